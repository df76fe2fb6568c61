#!/bin/sh
# One-shot initialisation of the compose federation (the `init` service).
#
# Makes the federation PKI (root CA, one CA + TLS + signing certificate per node,
# each TLS certificate naming the node's compose service), signs the federation
# directory, and writes each node's configuration. Runs once: a second run finds
# the marker file and leaves everything as it is.
#
# GATEWAY_HOME (default /var/lib/gateway) holds keys/ and config/; the tests run
# this script for real with GATEWAY_HOME in a temporary folder.
set -eu

home="${GATEWAY_HOME:-/var/lib/gateway}"
keys="$home/keys"
config="$home/config"
marker="$config/.initialised"
# Inside each node's container (see compose.yaml): gRPC on 7000, operations on 9464.
grpc_port=7000
operations_listen="127.0.0.1:9464"

if [ -f "$marker" ]; then
    echo "federation already initialised in $home"
    exit 0
fi
mkdir -p "$keys" "$config"

gateway pki init --dir "$keys" --name "Compose credit federation"
gateway pki node --dir "$keys" --node 000000 --host national
gateway pki node --dir "$keys" --node 330000 --parent 000000 --host province
gateway pki node --dir "$keys" --node 330500 --parent 330000 --host city
gateway pki client --dir "$keys" --node 330500 --name market-office \
    --role department --domain market_regulation

gateway directory sign --keys "$keys" --valid-days 30 --out "$config/directory.json" \
    --node "000000=national:$grpc_port" \
    --node "330000=province:$grpc_port" \
    --node "330500=city:$grpc_port"

# The national node signs the directory; the others cache what their parent serves,
# on their own data volume.
gateway node init --node 000000 --keys "$keys" --listen "0.0.0.0:$grpc_port" \
    --db "sqlite:////var/lib/gateway/data/000000.db" \
    --directory "$config/directory.json" --operations-listen "$operations_listen" \
    --out "$config/000000.toml"
gateway node init --node 330000 --keys "$keys" --listen "0.0.0.0:$grpc_port" \
    --parent "national:$grpc_port" \
    --db "postgresql+psycopg://gateway@province-db:5432/gateway" \
    --directory /var/lib/gateway/data/directory.json --operations-listen "$operations_listen" \
    --out "$config/330000.toml"
gateway node init --node 330500 --keys "$keys" --listen "0.0.0.0:$grpc_port" \
    --parent "province:$grpc_port" \
    --db "sqlite:////var/lib/gateway/data/330500.db" \
    --directory /var/lib/gateway/data/directory.json --operations-listen "$operations_listen" \
    --out "$config/330500.toml"

touch "$marker"
echo "federation initialised in $home"
