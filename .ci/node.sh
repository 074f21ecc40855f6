#!/usr/bin/env bash
# Fetches an official Node.js build from the npm registry (the node-linux-<arch> package ships the
# binary in its tarball, so nothing is downloaded from elsewhere) into DIR, and prints its bin folder.
# usage: .ci/node.sh VERSION DIR
set -euo pipefail
version=$1 dir=$2
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac
mkdir -p "$dir"
if [ ! -x "$dir/package/bin/node" ]; then
  tarball=$(cd "$dir" && npm pack --silent "node-linux-$arch@$version")
  tar -xzf "$dir/$tarball" -C "$dir"
  rm "$dir/$tarball"
fi
"$dir/package/bin/node" --version >&2
echo "$dir/package/bin"
