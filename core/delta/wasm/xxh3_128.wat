;; xxHash3-128 and xxHash3-64 (seed 0, default secret), one-shot and streamed, the long-input
;; loop 16 bytes a step with WebAssembly SIMD. The algorithm is xxHash's specification
;; (doc/xxhash_spec.md of Cyan4973/xxHash); tests/strong_hash_test.ts checks every length from 0
;; to 2,100 bytes and streamed splits against the reference C code (npm:@node-rs/xxhash).
;;
;; Memory: the secret at 0 (192 bytes), the digest written at 256 (16 bytes, canonical order:
;; high half then low half, each big-endian), the streamed accumulators at 512, their copy for
;; the finish at 576, a one-shot digest's accumulators at 640, the two accumulators of a medium
;; input at 704, the stream's last accumulated stripe at 960 and its buffer at 1024 (256 bytes),
;; the caller's input from 4096 on (INPUT_AT in strong_hash.ts).
;;
;; A long input (over 240 bytes) is processed in 64-byte stripes, each followed by at least one
;; more byte: stripe k is accumulated iff 64 (k + 1) < length, and the accumulators are scrambled
;; after every 16th; the last 64 bytes are then accumulated once more with secret offset 121.
;; This is the specification's block loop written per stripe, which is what lets the stream
;; process any split the same way.
;;
;; Generated into xxh3_128_wasm.ts by generate.sh.
(module
  (import "env" "memory" (memory 1))
  (global $hi (mut i64) (i64.const 0))      ;; the high half of the last $mul
  (global $total (mut i64) (i64.const 0))   ;; bytes streamed
  (global $bufLen (mut i32) (i32.const 0))  ;; bytes in the stream's buffer
  (global $stripe (mut i32) (i32.const 0))  ;; stripes accumulated since the last scramble
  (data (i32.const 0)
    "\b8\fe\6c\39\23\a4\4b\be\7c\01\81\2c\f7\21\ad\1c"
    "\de\d4\6d\e9\83\90\97\db\72\40\a4\a4\b7\b3\67\1f"
    "\cb\79\e6\4e\cc\c0\e5\78\82\5a\d0\7d\cc\ff\72\21"
    "\b8\08\46\74\f7\43\24\8e\e0\35\90\e6\81\3a\26\4c"
    "\3c\28\52\bb\91\c3\00\cb\88\d0\65\8b\1b\53\2e\a3"
    "\71\64\48\97\a2\0d\f9\4e\38\19\ef\46\a9\de\ac\d8"
    "\a8\fa\76\3f\e3\9c\34\3f\f9\dc\bb\c7\c7\0b\4f\1d"
    "\8a\51\e0\4b\cd\b4\59\31\c8\9f\7e\c9\d9\78\73\64"
    "\ea\c5\ac\83\34\d3\eb\c3\c5\81\a0\ff\fa\13\63\eb"
    "\17\0d\dd\51\b7\f0\da\49\d3\16\55\26\29\d4\68\9e"
    "\2b\16\be\58\7d\47\a1\fc\8f\f8\b8\d1\7a\d0\31\ce"
    "\45\cb\3a\8f\95\16\04\28\af\d7\fb\ca\bb\4b\40\7e")

  ;; a × b as 128 bits: returns the low half, leaves the high half in $hi.
  (func $mul (param $a i64) (param $b i64) (result i64)
    (local $aL i64) (local $aH i64) (local $bL i64) (local $bH i64)
    (local $ll i64) (local $hl i64) (local $cross i64)
    (local.set $aL (i64.and (local.get $a) (i64.const 0xffffffff)))
    (local.set $aH (i64.shr_u (local.get $a) (i64.const 32)))
    (local.set $bL (i64.and (local.get $b) (i64.const 0xffffffff)))
    (local.set $bH (i64.shr_u (local.get $b) (i64.const 32)))
    (local.set $ll (i64.mul (local.get $aL) (local.get $bL)))
    (local.set $hl (i64.mul (local.get $aH) (local.get $bL)))
    (local.set $cross
      (i64.add
        (i64.add (i64.shr_u (local.get $ll) (i64.const 32))
          (i64.and (local.get $hl) (i64.const 0xffffffff)))
        (i64.mul (local.get $aL) (local.get $bH))))
    (global.set $hi
      (i64.add
        (i64.add (i64.shr_u (local.get $hl) (i64.const 32))
          (i64.shr_u (local.get $cross) (i64.const 32)))
        (i64.mul (local.get $aH) (local.get $bH))))
    (i64.or (i64.shl (local.get $cross) (i64.const 32))
      (i64.and (local.get $ll) (i64.const 0xffffffff))))

  ;; The low and high halves of a × b, xored.
  (func $fold (param $a i64) (param $b i64) (result i64)
    (i64.xor (call $mul (local.get $a) (local.get $b)) (global.get $hi)))

  (func $avalanche (param $x i64) (result i64)
    (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 37))))
    (local.set $x (i64.mul (local.get $x) (i64.const 0x165667919E3779F9)))
    (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 32))))

  (func $avalanche64 (param $x i64) (result i64)
    (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 33))))
    (local.set $x (i64.mul (local.get $x) (i64.const 0xC2B2AE3D27D4EB4F)))
    (local.set $x (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 29))))
    (local.set $x (i64.mul (local.get $x) (i64.const 0x165667B19E3779F9)))
    (i64.xor (local.get $x) (i64.shr_u (local.get $x) (i64.const 32))))

  (func $bswap64 (param $x i64) (result i64)
    (i64x2.extract_lane 0
      (i8x16.shuffle 7 6 5 4 3 2 1 0 15 14 13 12 11 10 9 8 (i64x2.splat (local.get $x))
        (i64x2.splat (local.get $x)))))

  (func $bswap32 (param $x i32) (result i32)
    (i32.or
      (i32.or (i32.shl (local.get $x) (i32.const 24))
        (i32.and (i32.shl (local.get $x) (i32.const 8)) (i32.const 0xff0000)))
      (i32.or (i32.and (i32.shr_u (local.get $x) (i32.const 8)) (i32.const 0xff00))
        (i32.shr_u (local.get $x) (i32.const 24)))))

  ;; Writes the digest at 256: the high half then the low half, each big-endian.
  (func $out (param $low i64) (param $high i64)
    (v128.store (i32.const 256)
      (i8x16.shuffle 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1 0
        (i64x2.replace_lane 1 (i64x2.splat (local.get $low)) (local.get $high))
        (i64x2.splat (local.get $low)))))

  ;; 0 to 16 bytes.
  (func $upTo16 (param $p i32) (param $len i32)
    (local $c i32) (local $lo i64) (local $hi2 i64) (local $in i64)
    (if (i32.eqz (local.get $len))
      (then
        (call $out
          (call $avalanche64 (i64.xor (i64.load (i32.const 64)) (i64.load (i32.const 72))))
          (call $avalanche64 (i64.xor (i64.load (i32.const 80)) (i64.load (i32.const 88)))))
        (return)))
    (if (i32.le_u (local.get $len) (i32.const 3))
      (then
        (local.set $c
          (i32.or
            (i32.or (i32.load8_u (i32.sub (i32.add (local.get $p) (local.get $len)) (i32.const 1)))
              (i32.shl (local.get $len) (i32.const 8)))
            (i32.or (i32.shl (i32.load8_u (local.get $p)) (i32.const 16))
              (i32.shl
                (i32.load8_u (i32.add (local.get $p) (i32.shr_u (local.get $len) (i32.const 1))))
                (i32.const 24)))))
        (call $out
          (call $avalanche64
            (i64.xor (i64.extend_i32_u (i32.xor (i32.load (i32.const 0)) (i32.load (i32.const 4))))
              (i64.extend_i32_u (local.get $c))))
          (call $avalanche64
            (i64.xor (i64.extend_i32_u (i32.xor (i32.load (i32.const 8)) (i32.load (i32.const 12))))
              (i64.extend_i32_u (i32.rotl (call $bswap32 (local.get $c)) (i32.const 13))))))
        (return)))
    (if (i32.le_u (local.get $len) (i32.const 8))
      (then
        (local.set $in
          (i64.or (i64.extend_i32_u (i32.load (local.get $p)))
            (i64.shl
              (i64.extend_i32_u
                (i32.load (i32.sub (i32.add (local.get $p) (local.get $len)) (i32.const 4))))
              (i64.const 32))))
        (local.set $lo
          (call $mul
            (i64.xor (local.get $in)
              (i64.xor (i64.load (i32.const 16)) (i64.load (i32.const 24))))
            (i64.add (i64.const 0x9E3779B185EBCA87)
              (i64.shl (i64.extend_i32_u (local.get $len)) (i64.const 2)))))
        (local.set $hi2 (i64.add (global.get $hi) (i64.shl (local.get $lo) (i64.const 1))))
        (local.set $lo (i64.xor (local.get $lo) (i64.shr_u (local.get $hi2) (i64.const 3))))
        (local.set $lo (i64.xor (local.get $lo) (i64.shr_u (local.get $lo) (i64.const 35))))
        (local.set $lo (i64.mul (local.get $lo) (i64.const 0x9FB21C651E98DF25)))
        (local.set $lo (i64.xor (local.get $lo) (i64.shr_u (local.get $lo) (i64.const 28))))
        (call $out (local.get $lo) (call $avalanche (local.get $hi2)))
        (return)))
    ;; 9 to 16 bytes
    (local.set $in (i64.load (i32.sub (i32.add (local.get $p) (local.get $len)) (i32.const 8))))
    (local.set $lo
      (call $mul
        (i64.xor (i64.xor (i64.load (local.get $p)) (local.get $in))
          (i64.xor (i64.load (i32.const 32)) (i64.load (i32.const 40))))
        (i64.const 0x9E3779B185EBCA87)))
    (local.set $lo
      (i64.add (local.get $lo)
        (i64.shl (i64.extend_i32_u (i32.sub (local.get $len) (i32.const 1))) (i64.const 54))))
    (local.set $in
      (i64.xor (local.get $in) (i64.xor (i64.load (i32.const 48)) (i64.load (i32.const 56)))))
    (local.set $hi2
      (i64.add (global.get $hi)
        (i64.add (local.get $in)
          (i64.mul (i64.and (local.get $in) (i64.const 0xffffffff))
            (i64.const 0x85EBCA76)))))
    (local.set $lo (i64.xor (local.get $lo) (call $bswap64 (local.get $hi2))))
    (local.set $lo (call $mul (local.get $lo) (i64.const 0xC2B2AE3D27D4EB4F)))
    (local.set $hi2
      (i64.add (global.get $hi) (i64.mul (local.get $hi2) (i64.const 0xC2B2AE3D27D4EB4F))))
    (call $out (call $avalanche (local.get $lo)) (call $avalanche (local.get $hi2))))

  ;; mix16B of the specification: 16 bytes at $p against 16 of the secret at $s.
  (func $mix16 (param $p i32) (param $s i32) (result i64)
    (call $fold
      (i64.xor (i64.load (local.get $p)) (i64.load (local.get $s)))
      (i64.xor (i64.load offset=8 (local.get $p)) (i64.load offset=8 (local.get $s)))))

  ;; 17 to 240 bytes: mixes 32 bytes (16 at $a, 16 at $b) into the two accumulators at 704.
  (func $mix32 (param $a i32) (param $b i32) (param $s i32)
    (local $low i64) (local $high i64)
    (local.set $low (i64.add (i64.load (i32.const 704)) (call $mix16 (local.get $a) (local.get $s))))
    (local.set $low
      (i64.xor (local.get $low)
        (i64.add (i64.load (local.get $b)) (i64.load offset=8 (local.get $b)))))
    (local.set $high
      (i64.add (i64.load (i32.const 712))
        (call $mix16 (local.get $b) (i32.add (local.get $s) (i32.const 16)))))
    (local.set $high
      (i64.xor (local.get $high)
        (i64.add (i64.load (local.get $a)) (i64.load offset=8 (local.get $a)))))
    (i64.store (i32.const 704) (local.get $low))
    (i64.store (i32.const 712) (local.get $high)))

  (func $upTo240 (param $p i32) (param $len i32)
    (local $end i32) (local $i i32) (local $rounds i32) (local $low i64) (local $high i64)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (i64.store (i32.const 704)
      (i64.mul (i64.extend_i32_u (local.get $len)) (i64.const 0x9E3779B185EBCA87)))
    (i64.store (i32.const 712) (i64.const 0))
    (if (i32.le_u (local.get $len) (i32.const 128))
      (then
        (if (i32.gt_u (local.get $len) (i32.const 32))
          (then
            (if (i32.gt_u (local.get $len) (i32.const 64))
              (then
                (if (i32.gt_u (local.get $len) (i32.const 96))
                  (then
                    (call $mix32 (i32.add (local.get $p) (i32.const 48))
                      (i32.sub (local.get $end) (i32.const 64)) (i32.const 96))))
                (call $mix32 (i32.add (local.get $p) (i32.const 32))
                  (i32.sub (local.get $end) (i32.const 48)) (i32.const 64))))
            (call $mix32 (i32.add (local.get $p) (i32.const 16))
              (i32.sub (local.get $end) (i32.const 32)) (i32.const 32))))
        (call $mix32 (local.get $p) (i32.sub (local.get $end) (i32.const 16)) (i32.const 0)))
      (else
        (local.set $rounds (i32.shr_u (local.get $len) (i32.const 5)))
        (local.set $i (i32.const 0))
        (loop $first
          (call $mix32
            (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 5)))
            (i32.add (local.get $p) (i32.add (i32.shl (local.get $i) (i32.const 5)) (i32.const 16)))
            (i32.shl (local.get $i) (i32.const 5)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $first (i32.lt_u (local.get $i) (i32.const 4))))
        (i64.store (i32.const 704) (call $avalanche (i64.load (i32.const 704))))
        (i64.store (i32.const 712) (call $avalanche (i64.load (i32.const 712))))
        (block $done
          (loop $rest
            (br_if $done (i32.ge_u (local.get $i) (local.get $rounds)))
            (call $mix32
              (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 5)))
              (i32.add (local.get $p) (i32.add (i32.shl (local.get $i) (i32.const 5)) (i32.const 16)))
              (i32.add (i32.shl (i32.sub (local.get $i) (i32.const 4)) (i32.const 5)) (i32.const 3)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $rest)))
        (call $mix32 (i32.sub (local.get $end) (i32.const 16))
          (i32.sub (local.get $end) (i32.const 32)) (i32.const 103))))
    (local.set $low (i64.load (i32.const 704)))
    (local.set $high (i64.load (i32.const 712)))
    (call $out
      (call $avalanche (i64.add (local.get $low) (local.get $high)))
      (i64.sub (i64.const 0)
        (call $avalanche
          (i64.add
            (i64.add (i64.mul (local.get $low) (i64.const 0x9E3779B185EBCA87))
              (i64.mul (local.get $high) (i64.const 0x85EBCA77C2B2AE63)))
            (i64.mul (i64.extend_i32_u (local.get $len)) (i64.const 0xC2B2AE3D27D4EB4F)))))))

  ;; One accumulation of 16 bytes of a stripe ($d) with 16 of the secret ($k) into $acc.
  (func $lane (param $acc v128) (param $d v128) (param $k v128) (result v128)
    (local $dk v128)
    (local.set $dk (v128.xor (local.get $d) (local.get $k)))
    (i64x2.add
      (i64x2.add (local.get $acc)
        (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $d) (local.get $d)))
      (i64x2.extmul_low_i32x4_u
        (i8x16.shuffle 0 1 2 3 8 9 10 11 0 1 2 3 8 9 10 11 (local.get $dk) (local.get $dk))
        (i8x16.shuffle 4 5 6 7 12 13 14 15 4 5 6 7 12 13 14 15 (local.get $dk) (local.get $dk)))))

  (func $scramble (param $acc v128) (param $k v128) (result v128)
    (local.set $acc (v128.xor (local.get $acc) (i64x2.shr_u (local.get $acc) (i32.const 47))))
    (i64x2.mul (v128.xor (local.get $acc) (local.get $k)) (v128.const i64x2 0x9E3779B1 0x9E3779B1)))

  ;; Accumulates `n` stripes from $p into the accumulators at $accp, counting in $stripe and
  ;; scrambling after every 16th.
  (func $stripes (param $accp i32) (param $p i32) (param $n i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $s i32)
    (if (i32.eqz (local.get $n)) (then (return)))
    (local.set $a0 (v128.load (local.get $accp)))
    (local.set $a1 (v128.load offset=16 (local.get $accp)))
    (local.set $a2 (v128.load offset=32 (local.get $accp)))
    (local.set $a3 (v128.load offset=48 (local.get $accp)))
    (local.set $s (i32.shl (global.get $stripe) (i32.const 3)))
    (loop $each
      (local.set $a0
        (call $lane (local.get $a0) (v128.load (local.get $p)) (v128.load (local.get $s))))
      (local.set $a1
        (call $lane (local.get $a1) (v128.load offset=16 (local.get $p))
          (v128.load offset=16 (local.get $s))))
      (local.set $a2
        (call $lane (local.get $a2) (v128.load offset=32 (local.get $p))
          (v128.load offset=32 (local.get $s))))
      (local.set $a3
        (call $lane (local.get $a3) (v128.load offset=48 (local.get $p))
          (v128.load offset=48 (local.get $s))))
      (local.set $p (i32.add (local.get $p) (i32.const 64)))
      (local.set $s (i32.add (local.get $s) (i32.const 8)))
      (if (i32.eq (local.get $s) (i32.const 128))
        (then
          (local.set $a0 (call $scramble (local.get $a0) (v128.load (i32.const 128))))
          (local.set $a1 (call $scramble (local.get $a1) (v128.load (i32.const 144))))
          (local.set $a2 (call $scramble (local.get $a2) (v128.load (i32.const 160))))
          (local.set $a3 (call $scramble (local.get $a3) (v128.load (i32.const 176))))
          (local.set $s (i32.const 0))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $each (local.get $n)))
    (global.set $stripe (i32.shr_u (local.get $s) (i32.const 3)))
    (v128.store (local.get $accp) (local.get $a0))
    (v128.store offset=16 (local.get $accp) (local.get $a1))
    (v128.store offset=32 (local.get $accp) (local.get $a2))
    (v128.store offset=48 (local.get $accp) (local.get $a3)))

  (func $initAccs (param $accp i32)
    (v128.store (local.get $accp) (v128.const i64x2 0xC2B2AE3D 0x9E3779B185EBCA87))
    (v128.store offset=16 (local.get $accp)
      (v128.const i64x2 0xC2B2AE3D27D4EB4F 0x165667B19E3779F9))
    (v128.store offset=32 (local.get $accp)
      (v128.const i64x2 0x85EBCA77C2B2AE63 0x85EBCA77))
    (v128.store offset=48 (local.get $accp)
      (v128.const i64x2 0x27D4EB2F165667C5 0x9E3779B1)))

  (func $merge (param $accp i32) (param $s i32) (param $start i64) (result i64)
    (local $i i32)
    (loop $each
      (local.set $start
        (i64.add (local.get $start)
          (call $fold
            (i64.xor (i64.load (local.get $accp)) (i64.load (local.get $s)))
            (i64.xor (i64.load offset=8 (local.get $accp)) (i64.load offset=8 (local.get $s))))))
      (local.set $accp (i32.add (local.get $accp) (i32.const 16)))
      (local.set $s (i32.add (local.get $s) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $i) (i32.const 4))))
    (call $avalanche (local.get $start)))

  ;; Accumulates the last stripe (the 64 bytes from $last, with secret offset 121) and writes
  ;; the digest of $len bytes.
  (func $finishLong (param $accp i32) (param $last i32) (param $len i64)
    (call $lastStripe (local.get $accp) (local.get $last))
    (call $out
      (call $merge (local.get $accp) (i32.const 11)
        (i64.mul (local.get $len) (i64.const 0x9E3779B185EBCA87)))
      (call $merge (local.get $accp) (i32.const 117)
        (i64.xor (i64.mul (local.get $len) (i64.const 0xC2B2AE3D27D4EB4F)) (i64.const -1)))))

  (func $lastStripe (param $accp i32) (param $p i32)
    (v128.store (local.get $accp)
      (call $lane (v128.load (local.get $accp)) (v128.load (local.get $p)) (v128.load (i32.const 121))))
    (v128.store offset=16 (local.get $accp)
      (call $lane (v128.load offset=16 (local.get $accp)) (v128.load offset=16 (local.get $p))
        (v128.load (i32.const 137))))
    (v128.store offset=32 (local.get $accp)
      (call $lane (v128.load offset=32 (local.get $accp)) (v128.load offset=32 (local.get $p))
        (v128.load (i32.const 153))))
    (v128.store offset=48 (local.get $accp)
      (call $lane (v128.load offset=48 (local.get $accp)) (v128.load offset=48 (local.get $p))
        (v128.load (i32.const 169)))))

  ;; The digest of [p, p + len), written at 256.
  (func $digest (export "digest") (param $p i32) (param $len i32)
    (local $saved i32)
    (if (i32.le_u (local.get $len) (i32.const 16))
      (then (call $upTo16 (local.get $p) (local.get $len)) (return)))
    (if (i32.le_u (local.get $len) (i32.const 240))
      (then (call $upTo240 (local.get $p) (local.get $len)) (return)))
    (local.set $saved (global.get $stripe))
    (global.set $stripe (i32.const 0))
    (call $initAccs (i32.const 640))
    (call $stripes (i32.const 640) (local.get $p)
      (i32.shr_u (i32.sub (local.get $len) (i32.const 1)) (i32.const 6)))
    (global.set $stripe (local.get $saved))
    (call $finishLong (i32.const 640)
      (i32.sub (i32.add (local.get $p) (local.get $len)) (i32.const 64))
      (i64.extend_i32_u (local.get $len))))

;; ---------------------------------------------------------------------------------------------
  ;; xxHash3-64 (the content hash of `core/hash.ts`): the same long-input loop; its digest is the
  ;; low half's merge. Short inputs have their own formulas. Written at 256, 8 bytes big-endian.

  (func $out64 (param $x i64)
    (i64.store (i32.const 256) (call $bswap64 (local.get $x))))

  (func $upTo16x64 (param $p i32) (param $len i32)
    (local $in i64) (local $lo i64) (local $hi2 i64) (local $v i64)
    (if (i32.eqz (local.get $len))
      (then
        (call $out64
          (call $avalanche64 (i64.xor (i64.load (i32.const 56)) (i64.load (i32.const 64)))))
        (return)))
    (if (i32.le_u (local.get $len) (i32.const 3))
      (then
        ;; The low half of the 128-bit digest.
        (call $upTo16 (local.get $p) (local.get $len))
        (call $out64 (call $bswap64 (i64.load (i32.const 264))))
        (return)))
    (if (i32.le_u (local.get $len) (i32.const 8))
      (then
        (local.set $in
          (i64.or
            (i64.extend_i32_u
              (i32.load (i32.sub (i32.add (local.get $p) (local.get $len)) (i32.const 4))))
            (i64.shl (i64.extend_i32_u (i32.load (local.get $p))) (i64.const 32))))
        (local.set $v
          (i64.xor (local.get $in)
            (i64.xor (i64.load (i32.const 8)) (i64.load (i32.const 16)))))
        (local.set $v
          (i64.xor (local.get $v)
            (i64.xor (i64.rotl (local.get $v) (i64.const 49))
              (i64.rotl (local.get $v) (i64.const 24)))))
        (local.set $v (i64.mul (local.get $v) (i64.const 0x9FB21C651E98DF25)))
        (local.set $v
          (i64.xor (local.get $v)
            (i64.add (i64.shr_u (local.get $v) (i64.const 35))
              (i64.extend_i32_u (local.get $len)))))
        (local.set $v (i64.mul (local.get $v) (i64.const 0x9FB21C651E98DF25)))
        (call $out64 (i64.xor (local.get $v) (i64.shr_u (local.get $v) (i64.const 28))))
        (return)))
    ;; 9 to 16 bytes
    (local.set $lo
      (i64.xor (i64.load (local.get $p))
        (i64.xor (i64.load (i32.const 24)) (i64.load (i32.const 32)))))
    (local.set $hi2
      (i64.xor (i64.load (i32.sub (i32.add (local.get $p) (local.get $len)) (i32.const 8)))
        (i64.xor (i64.load (i32.const 40)) (i64.load (i32.const 48)))))
    (call $out64
      (call $avalanche
        (i64.add
          (i64.add (i64.extend_i32_u (local.get $len)) (call $bswap64 (local.get $lo)))
          (i64.add (local.get $hi2) (call $fold (local.get $lo) (local.get $hi2)))))))

  (func $upTo240x64 (param $p i32) (param $len i32)
    (local $end i32) (local $i i32) (local $rounds i32) (local $acc i64)
    (local.set $end (i32.add (local.get $p) (local.get $len)))
    (local.set $acc (i64.mul (i64.extend_i32_u (local.get $len)) (i64.const 0x9E3779B185EBCA87)))
    (if (i32.le_u (local.get $len) (i32.const 128))
      (then
        (if (i32.gt_u (local.get $len) (i32.const 32))
          (then
            (if (i32.gt_u (local.get $len) (i32.const 64))
              (then
                (if (i32.gt_u (local.get $len) (i32.const 96))
                  (then
                    (local.set $acc
                      (i64.add (local.get $acc)
                        (i64.add
                          (call $mix16 (i32.add (local.get $p) (i32.const 48)) (i32.const 96))
                          (call $mix16 (i32.sub (local.get $end) (i32.const 64)) (i32.const 112)))))))
                (local.set $acc
                  (i64.add (local.get $acc)
                    (i64.add
                      (call $mix16 (i32.add (local.get $p) (i32.const 32)) (i32.const 64))
                      (call $mix16 (i32.sub (local.get $end) (i32.const 48)) (i32.const 80)))))))
            (local.set $acc
              (i64.add (local.get $acc)
                (i64.add
                  (call $mix16 (i32.add (local.get $p) (i32.const 16)) (i32.const 32))
                  (call $mix16 (i32.sub (local.get $end) (i32.const 32)) (i32.const 48)))))))
        (local.set $acc
          (i64.add (local.get $acc)
            (i64.add
              (call $mix16 (local.get $p) (i32.const 0))
              (call $mix16 (i32.sub (local.get $end) (i32.const 16)) (i32.const 16)))))
        (call $out64 (call $avalanche (local.get $acc)))
        (return)))
    (local.set $rounds (i32.shr_u (local.get $len) (i32.const 4)))
    (loop $first
      (local.set $acc
        (i64.add (local.get $acc)
          (call $mix16 (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 4)))
            (i32.shl (local.get $i) (i32.const 4)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $first (i32.lt_u (local.get $i) (i32.const 8))))
    (local.set $acc (call $avalanche (local.get $acc)))
    (block $done
      (loop $rest
        (br_if $done (i32.ge_u (local.get $i) (local.get $rounds)))
        (local.set $acc
          (i64.add (local.get $acc)
            (call $mix16 (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 4)))
              (i32.add (i32.shl (i32.sub (local.get $i) (i32.const 8)) (i32.const 4))
                (i32.const 3)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $rest)))
    (local.set $acc
      (i64.add (local.get $acc)
        (call $mix16 (i32.sub (local.get $end) (i32.const 16)) (i32.const 119))))
    (call $out64 (call $avalanche (local.get $acc))))

  ;; The xxHash3-64 digest of [p, p + len), written at 256.
  (func $digest64 (export "digest64") (param $p i32) (param $len i32)
    (if (i32.le_u (local.get $len) (i32.const 16))
      (then (call $upTo16x64 (local.get $p) (local.get $len)) (return)))
    (if (i32.le_u (local.get $len) (i32.const 240))
      (then (call $upTo240x64 (local.get $p) (local.get $len)) (return)))
    ;; The long digest's low half is xxHash3-64's.
    (call $digest (local.get $p) (local.get $len))
    (call $out64 (call $bswap64 (i64.load (i32.const 264)))))

  ;; Writes the streamed xxHash3-64 digest at 256 (the stream may not be continued).
  (func (export "finish64")
    (if (i64.le_u (global.get $total) (i64.const 240))
      (then (call $digest64 (i32.const 1024) (global.get $bufLen)) (return)))
    (call $finish)
    (call $out64 (call $bswap64 (i64.load (i32.const 264)))))

  ;; Starts a streamed digest.
  (func (export "reset")
    (call $initAccs (i32.const 512))
    (global.set $total (i64.const 0))
    (global.set $bufLen (i32.const 0))
    (global.set $stripe (i32.const 0)))

  ;; Adds [p, p + len) to the streamed digest.
  (func (export "update") (param $p i32) (param $len i32)
    (local $take i32) (local $n i32)
    (global.set $total (i64.add (global.get $total) (i64.extend_i32_u (local.get $len))))
    (if (i32.le_u (i32.add (global.get $bufLen) (local.get $len)) (i32.const 256))
      (then
        (memory.copy (i32.add (i32.const 1024) (global.get $bufLen)) (local.get $p) (local.get $len))
        (global.set $bufLen (i32.add (global.get $bufLen) (local.get $len)))
        (return)))
    ;; More than the buffer holds: fill it and accumulate its four stripes (bytes follow them).
    (if (global.get $bufLen)
      (then
        (local.set $take (i32.sub (i32.const 256) (global.get $bufLen)))
        (memory.copy (i32.add (i32.const 1024) (global.get $bufLen)) (local.get $p) (local.get $take))
        (call $stripes (i32.const 512) (i32.const 1024) (i32.const 4))
        (memory.copy (i32.const 960) (i32.const 1216) (i32.const 64))
        (global.set $bufLen (i32.const 0))
        (local.set $p (i32.add (local.get $p) (local.get $take)))
        (local.set $len (i32.sub (local.get $len) (local.get $take)))))
    ;; Accumulate in place while more than 256 bytes would remain; keep the rest (and the last
    ;; accumulated stripe, for a short final buffer).
    (if (i32.gt_u (local.get $len) (i32.const 256))
      (then
        (local.set $n (i32.shr_u (i32.sub (local.get $len) (i32.const 193)) (i32.const 6)))
        (call $stripes (i32.const 512) (local.get $p) (local.get $n))
        (local.set $p (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 6))))
        (local.set $len (i32.sub (local.get $len) (i32.shl (local.get $n) (i32.const 6))))
        (memory.copy (i32.const 960) (i32.sub (local.get $p) (i32.const 64)) (i32.const 64))))
    (memory.copy (i32.const 1024) (local.get $p) (local.get $len))
    (global.set $bufLen (local.get $len)))

  ;; Writes the streamed digest at 256 (the stream may not be continued).
  (func $finish (export "finish")
    (local $saved i32)
    (if (i64.le_u (global.get $total) (i64.const 240))
      (then (call $digest (i32.const 1024) (global.get $bufLen)) (return)))
    (v128.store (i32.const 576) (v128.load (i32.const 512)))
    (v128.store (i32.const 592) (v128.load (i32.const 528)))
    (v128.store (i32.const 608) (v128.load (i32.const 544)))
    (v128.store (i32.const 624) (v128.load (i32.const 560)))
    (local.set $saved (global.get $stripe))
    (call $stripes (i32.const 576) (i32.const 1024)
      (i32.shr_u (i32.sub (global.get $bufLen) (i32.const 1)) (i32.const 6)))
    (global.set $stripe (local.get $saved))
    (call $finishLong (i32.const 576)
      (i32.sub (i32.add (i32.const 1024) (global.get $bufLen)) (i32.const 64))
      (global.get $total))))
