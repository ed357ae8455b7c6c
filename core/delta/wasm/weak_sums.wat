;; rsync's weak checksum of consecutive blocks, 16 bytes a step with WebAssembly SIMD.
;;
;; For a block of L = 16K bytes x_0 … x_{L-1}:  a = Σ x_i,  b = Σ (L - i) x_i  (both mod 2^16),
;; the sums `weakSums` in weak_sum.ts computes a byte at a time. Here, with S_k the sum of the k-th
;; 16-byte vector and i = 16k + j:
;;   b = Σ_k (L - 16k) S_k - Σ_k Σ_j j x_{16k+j} = 16 Σ_k (K - k) S_k - Σ_j j C_j,
;; where C_j is the sum of column j. Σ_k (K - k) S_k is the sum of the running sums of S_k
;; ($accP adds $accS after each vector); the columns are summed in 16-bit lanes for 128 vectors
;; at most (128 × 255 < 2^15, so the signed dot product reads them right) and then weighted with
;; one dot product. Every step is a ring operation mod 2^32, so wrapping loses nothing mod 2^16.
;;
;; Generated into weak_sums_wasm.ts by generate.sh.
(module
  (import "env" "memory" (memory 1))
  ;; Writes the weak checksum (a | b << 16) of each whole block of `block` bytes (a multiple of
  ;; 16) in [ptr, ptr + len) to the u32 array at `out`; returns how many blocks it summed.
  (func (export "blockSums")
    (param $ptr i32) (param $len i32) (param $block i32) (param $out i32) (result i32)
    (local $count i32) (local $end i32) (local $blockEnd i32) (local $chunkEnd i32)
    (local $a i32) (local $p i32) (local $w i32)
    (local $v v128) (local $accS v128) (local $accP v128) (local $accW v128)
    (local $colLo v128) (local $colHi v128)
    (local.set $end (i32.add (local.get $ptr) (local.get $len)))
    (block $done
      (loop $blocks
        (local.set $blockEnd (i32.add (local.get $ptr) (local.get $block)))
        (br_if $done (i32.gt_u (local.get $blockEnd) (local.get $end)))
        (local.set $accS (v128.const i32x4 0 0 0 0))
        (local.set $accP (v128.const i32x4 0 0 0 0))
        (local.set $accW (v128.const i32x4 0 0 0 0))
        (block $blockDone
          (loop $chunks
            (br_if $blockDone (i32.ge_u (local.get $ptr) (local.get $blockEnd)))
            (local.set $chunkEnd (i32.add (local.get $ptr) (i32.const 2048)))
            (if (i32.gt_u (local.get $chunkEnd) (local.get $blockEnd))
              (then (local.set $chunkEnd (local.get $blockEnd))))
            (local.set $colLo (v128.const i32x4 0 0 0 0))
            (local.set $colHi (v128.const i32x4 0 0 0 0))
            (loop $vectors
              (local.set $v (v128.load (local.get $ptr)))
              (local.set $accS
                (i32x4.add (local.get $accS)
                  (i32x4.extadd_pairwise_i16x8_u (i16x8.extadd_pairwise_i8x16_u (local.get $v)))))
              (local.set $accP (i32x4.add (local.get $accP) (local.get $accS)))
              (local.set $colLo
                (i16x8.add (local.get $colLo) (i16x8.extend_low_i8x16_u (local.get $v))))
              (local.set $colHi
                (i16x8.add (local.get $colHi) (i16x8.extend_high_i8x16_u (local.get $v))))
              (local.set $ptr (i32.add (local.get $ptr) (i32.const 16)))
              (br_if $vectors (i32.lt_u (local.get $ptr) (local.get $chunkEnd))))
            (local.set $accW
              (i32x4.add (local.get $accW)
                (i32x4.add
                  (i32x4.dot_i16x8_s (local.get $colLo) (v128.const i16x8 0 1 2 3 4 5 6 7))
                  (i32x4.dot_i16x8_s (local.get $colHi) (v128.const i16x8 8 9 10 11 12 13 14 15)))))
            (br $chunks)))
        (local.set $a
          (i32.add
            (i32.add (i32x4.extract_lane 0 (local.get $accS)) (i32x4.extract_lane 1 (local.get $accS)))
            (i32.add (i32x4.extract_lane 2 (local.get $accS)) (i32x4.extract_lane 3 (local.get $accS)))))
        (local.set $p
          (i32.add
            (i32.add (i32x4.extract_lane 0 (local.get $accP)) (i32x4.extract_lane 1 (local.get $accP)))
            (i32.add (i32x4.extract_lane 2 (local.get $accP)) (i32x4.extract_lane 3 (local.get $accP)))))
        (local.set $w
          (i32.add
            (i32.add (i32x4.extract_lane 0 (local.get $accW)) (i32x4.extract_lane 1 (local.get $accW)))
            (i32.add (i32x4.extract_lane 2 (local.get $accW)) (i32x4.extract_lane 3 (local.get $accW)))))
        (i32.store
          (i32.add (local.get $out) (i32.shl (local.get $count) (i32.const 2)))
          (i32.or
            (i32.and (local.get $a) (i32.const 0xffff))
            (i32.shl (i32.sub (i32.shl (local.get $p) (i32.const 4)) (local.get $w)) (i32.const 16))))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (br $blocks)))
    (local.get $count)))
