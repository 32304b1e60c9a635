#!/bin/sh
# Lays out the fn-runner image's own files under ROOT: one binary, and the
# names Porch calls it by as relative symlinks (they resolve under any
# root, and `cp -a` carries them into function pods intact). The paths are
# those of src/image_layout.rs; tests/image checks this script against it
# and runs every name.
#
#   image/layout.sh BINARY ROOT
#
# The Dockerfile runs it in its build stage; the tests run it on the binary
# cargo built. /config.yaml and /functions/ come from the functions stage.
set -eu
if [ "$#" -ne 2 ]; then
	echo "usage: $0 BINARY ROOT" >&2
	exit 2
fi
binary=$1
root=$2

mkdir -p "$root/wrapper-server" "$root/bin" "$root/home/nonroot"
# Readable and executable by any uid: newer Porch Deployments run the image
# as uid 10001, the image's USER is 65532, and any other must work too.
chmod 0755 "$root" "$root/wrapper-server" "$root/bin" "$root/home" "$root/home/nonroot"
cp "$binary" "$root/wrapper-server/wrapper-server"
chmod 0755 "$root/wrapper-server/wrapper-server"

# Porch v4: the init container copies /wrapper-server/. into the pod; the
# function container runs wrapper-server and probes with grpc-health-probe.
ln -s wrapper-server "$root/wrapper-server/grpc-health-probe"
# Newer Porch copies /home/nonroot/wrapper-server/. instead.
ln -s ../../wrapper-server "$root/home/nonroot/wrapper-server"
# The runner and its readiness probe, at both releases' paths.
ln -s wrapper-server/wrapper-server "$root/server"
ln -s wrapper-server/wrapper-server "$root/grpc-health-probe"
ln -s ../../wrapper-server/wrapper-server "$root/home/nonroot/server"
ln -s ../../wrapper-server/wrapper-server "$root/home/nonroot/grpc-health-probe"
# The init container runs plain `cp`, found on the image's PATH.
ln -s ../wrapper-server/wrapper-server "$root/bin/cp"
# `fn-runner inspect ...` and the other subcommands, by their usual name.
ln -s wrapper-server/wrapper-server "$root/fn-runner"
# Newer Porch passes --config=/home/nonroot/config.yaml --functions=/home/nonroot/functions.
ln -s ../../config.yaml "$root/home/nonroot/config.yaml"
ln -s ../../functions "$root/home/nonroot/functions"
