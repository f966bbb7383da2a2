#!/bin/sh
# Makes a CA and a server certificate for the atproto-verifier provider (valid CERT_DAYS, 365 by
# default). Run it again with the same output directory before the certificate expires: it keeps
# the CA and issues a new server certificate. (cert-manager.yaml renews automatically instead.)
#
#   gatekeeper/make-certs.sh [namespace] [output-dir]      (defaults: gatekeeper-system ./certs)
#
# Writes to the output directory:
#   ca.key, ca.crt      the CA (keep ca.key offline; it is needed only to issue new server certs)
#   tls.key, tls.crt    the provider's server certificate, for the Service DNS names
#   provider.yaml       provider-crd.yaml with spec.caBundle filled in and the namespace set
# and prints the caBundle and the kubectl commands to install them.
#
# The client side of mTLS needs nothing from here: the provider trusts Gatekeeper's own CA
# (Secret gatekeeper-webhook-server-cert, see deployment.yaml).
set -eu

NAMESPACE="${1:-gatekeeper-system}"
OUT="${2:-./certs}"
SERVICE="atproto-verifier-provider"
DAYS="${CERT_DAYS:-365}"
HERE="$(cd "$(dirname "$0")" && pwd)"

case "$NAMESPACE" in
  *[!a-z0-9-]*|"") echo "make-certs.sh: namespace '$NAMESPACE' is not a valid Kubernetes namespace name" >&2; exit 2 ;;
esac
command -v openssl >/dev/null || { echo "make-certs.sh: openssl is required" >&2; exit 2; }

mkdir -p "$OUT"
umask 077

# The CA: a P-256 key, self-signed, valid for 10 years, only for signing certificates. An existing
# CA in the output directory is kept, so running the script again renews only the server
# certificate: the Providers' caBundle stays valid and the rotation has no gap.
if [ -f "$OUT/ca.key" ] && [ -f "$OUT/ca.crt" ]; then
  echo "Keeping the CA in $OUT (ca.key, ca.crt): renewing the server certificate only."
else
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$OUT/ca.key" -out "$OUT/ca.crt" -days 3650 \
    -subj "/O=atproto-verifier/CN=atproto-verifier provider CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
fi

# The server certificate: Gatekeeper dials https://$SERVICE.$NAMESPACE:8443, so that name must be
# in the subjectAltName (Go ignores the CN); the longer forms cover other clients in the cluster.
cat > "$OUT/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:$SERVICE.$NAMESPACE,DNS:$SERVICE.$NAMESPACE.svc,DNS:$SERVICE.$NAMESPACE.svc.cluster.local,DNS:$SERVICE
EXT
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$OUT/tls.key" -out "$OUT/server.csr" -subj "/CN=$SERVICE.$NAMESPACE" 2>/dev/null
openssl x509 -req -in "$OUT/server.csr" -CA "$OUT/ca.crt" -CAkey "$OUT/ca.key" \
  -CAserial "$OUT/ca.srl" -CAcreateserial -days "$DAYS" -sha256 \
  -extfile "$OUT/server.ext" -out "$OUT/tls.crt" 2>/dev/null
rm -f "$OUT/server.csr" "$OUT/server.ext"
chmod 644 "$OUT/ca.crt" "$OUT/tls.crt"

openssl verify -CAfile "$OUT/ca.crt" "$OUT/tls.crt" >/dev/null

CA_BUNDLE="$(base64 < "$OUT/ca.crt" | tr -d '\n')"
sed -e "s|REPLACE_WITH_BASE64_CA_BUNDLE|$CA_BUNDLE|" \
    -e "s|$SERVICE\.gatekeeper-system:|$SERVICE.$NAMESPACE:|" \
    "$HERE/provider-crd.yaml" > "$OUT/provider.yaml"
chmod 644 "$OUT/provider.yaml"

cat <<MSG
Certificates written to $OUT (server name $SERVICE.$NAMESPACE, valid $DAYS days).

caBundle (base64 of $OUT/ca.crt), already filled in $OUT/provider.yaml:
$CA_BUNDLE

Next:
  kubectl -n $NAMESPACE create secret tls $SERVICE-tls --cert=$OUT/tls.crt --key=$OUT/tls.key
  kubectl apply -f $OUT/provider.yaml
MSG
