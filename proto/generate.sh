#!/usr/bin/env bash
# Regenerates proto/gen/blit_pb.ts from proto/blit.proto with buf + protoc-gen-es (offline once
# the two npm packages are installed). The generators live in a temporary npm prefix, never in
# the project's node_modules.
#
#   bash proto/generate.sh            # install into $BLIT_PROTOGEN (default /tmp/blit-protogen)
#   BLIT_PROTOGEN=/some/dir bash proto/generate.sh
set -euo pipefail

BUF_VERSION=1.75.0
PROTOC_GEN_ES_VERSION=2.17.0 # must match @bufbuild/protobuf in deno.json

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prefix="${BLIT_PROTOGEN:-/tmp/blit-protogen}"
bin="$prefix/node_modules/.bin"

installed_version() {
  node -p "require('$prefix/node_modules/$1/package.json').version" 2>/dev/null || true
}

if [[ "$(installed_version @bufbuild/buf)" != "$BUF_VERSION" ||
  "$(installed_version @bufbuild/protoc-gen-es)" != "$PROTOC_GEN_ES_VERSION" ]]; then
  mkdir -p "$prefix"
  npm install --silent --no-save --no-audit --no-fund --prefix "$prefix" \
    "@bufbuild/buf@$BUF_VERSION" "@bufbuild/protoc-gen-es@$PROTOC_GEN_ES_VERSION"
fi

template=$(
  cat <<EOF
{"version":"v2","plugins":[{"local":"$bin/protoc-gen-es","out":"gen",
"opt":["target=ts","import_extension=ts"]}]}
EOF
)

cd "$here"
lint_config='{"version":"v2","lint":{"use":["STANDARD"],"except":["SERVICE_SUFFIX",
"RPC_REQUEST_RESPONSE_UNIQUE","RPC_REQUEST_STANDARD_NAME","RPC_RESPONSE_STANDARD_NAME",
"PACKAGE_DIRECTORY_MATCH"]}}'
"$bin/buf" lint blit.proto --config "$lint_config"
rm -rf gen
"$bin/buf" generate --template "$template" blit.proto
echo "generated $(cd gen && ls)"
