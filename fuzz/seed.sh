#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the golden vectors: each captured stream behind an input
# header (8 KiB packets, no splits), once in message mode and, for requests, once with every
# packet after the first as a body packet.
set -euo pipefail
cd "$(dirname "$0")"
fixtures=../crates/ajp-codec/tests/fixtures
mkdir -p corpus/decode_proxy corpus/decode_container
for f in "$fixtures"/*/*.bin; do
  name=$(basename "$(dirname "$f")")-$(basename "$f" .bin)
  case "$f" in
    *response.bin|*to-client.bin)
      { printf '\x00\x00\x00\x00'; cat "$f"; } > "corpus/decode_proxy/$name" ;;
    *)
      { printf '\x00\x00\x00\x00'; cat "$f"; } > "corpus/decode_container/$name"
      { printf '\x00\xff\xfe\x00'; cat "$f"; } > "corpus/decode_container/$name-body" ;;
  esac
done
