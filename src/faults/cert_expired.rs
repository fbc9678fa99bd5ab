//! cert-expired: haproxy's HTTPS certificate is replaced by one that expired two days ago, for
//! the same names and key and signed by the same lab CA, so every HTTPS client refuses the
//! service while plain HTTP keeps working. The certificate is made on the node with `openssl
//! ca`; the one it replaces is kept in a root-only directory on the node (it holds the private
//! key, so it never travels to the host), and the record keeps its sha256.

use super::text::Fields;
use super::{Fault, FaultOps, Kind, Verdict, var};
use crate::roles::{TLS_DIR, TLS_PEM};
use serde::{Deserialize, Serialize};

pub(crate) const KIND: Kind = Kind {
    name: "cert-expired",
    about: "haproxy's HTTPS certificate expired (same names, key and CA); plain HTTP still works",
    params: &[],
    build: |_, node| {
        if !super::has_role(node, crate::spec::Role::Haproxy) {
            return Err(KIND.does_not_fit(node, "it needs the haproxy role (haproxy serves HTTPS)"));
        }
        Ok(Fault::CertExpired(CertExpired { original: None }))
    },
};

/// Where the certificate in service before the fault waits for the revert.
const KEEP: &str = "/var/lib/firedrill/cert-expired";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CertExpired {
    /// sha256 of the certificate file the fault replaces, known before the inject: the revert
    /// puts back only that file.
    #[serde(default)]
    pub(crate) original: Option<String>,
}

fn vars() -> String {
    [var("d", TLS_DIR), var("pem", TLS_PEM), var("keep", KEEP)].concat()
}

/// Prints `served=expired|valid|none` and `until=` for the certificate haproxy presents on 443.
const SERVED: &str = r#"cert=$(echo | timeout 10 openssl s_client -connect 127.0.0.1:443 -servername localhost 2>/dev/null | openssl x509 2>/dev/null)
if [ -z "$cert" ]; then echo served=none
elif echo "$cert" | openssl x509 -noout -checkend 0 >/dev/null; then echo served=valid
else echo served=expired
fi
echo "until=$(echo "$cert" | openssl x509 -noout -enddate 2>/dev/null | cut -d= -f2)"
"#;

impl FaultOps for CertExpired {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn summary(&self) -> String {
        format!("replace {TLS_PEM} by an expired certificate and reload haproxy")
    }

    fn prepare_script(&self) -> String {
        format!(
            r#"{}if [ ! -s "$pem" ] || [ ! -s "$d/ca.key" ]; then
  echo "no $pem or no lab CA key $d/ca.key: run firedrill up to configure haproxy with TLS" >&2; exit 3
fi
echo "sha=$(sha256sum "$pem" | cut -d' ' -f1)"
"#,
            vars()
        )
    }

    fn prepared(&mut self, out: &Fields) -> Result<(), String> {
        match out.get("sha") {
            Some(sha) if sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()) => {
                self.original = Some(sha.to_string());
                Ok(())
            }
            other => Err(format!(
                "cannot read the sha256 of {TLS_PEM} (got {:?})",
                other.unwrap_or_default()
            )),
        }
    }

    fn inject_script(&self) -> String {
        format!(
            r#"{}set -e
umask 077
mkdir -p "$keep"
[ -s "$keep/site.pem" ] || cp -p "$pem" "$keep/site.pem"
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
openssl pkey -in "$pem" -out "$t/key"
cn=$(openssl x509 -in "$pem" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= *//p')
san=$(openssl x509 -in "$pem" -noout -ext subjectAltName | sed -n 2p | sed 's/IP Address:/IP:/g; s/ //g')
openssl req -new -key "$t/key" -subj "/CN=$cn" -addext "subjectAltName=$san" -out "$t/csr" 2>/dev/null
: > "$t/index.txt"
echo 1000 > "$t/serial"
printf '[ca]\ndefault_ca = lab\n[lab]\ndatabase = %s/index.txt\nnew_certs_dir = %s\nserial = %s/serial\ndefault_md = sha256\npolicy = any\ncopy_extensions = copy\nunique_subject = no\n[any]\ncommonName = supplied\n' "$t" "$t" "$t" > "$t/ca.cnf"
openssl ca -batch -notext -config "$t/ca.cnf" -cert "$d/ca.pem" -keyfile "$d/ca.key" -startdate "$(date -u -d '-400 days' +%Y%m%d%H%M%SZ)" -enddate "$(date -u -d '-2 days' +%Y%m%d%H%M%SZ)" -in "$t/csr" -out "$t/crt" 2>/dev/null
cat "$t/crt" "$t/key" > "$pem.new"
mv -f "$pem.new" "$pem"
systemctl reload haproxy
"#,
            vars()
        )
    }

    fn verify_script(&self) -> String {
        SERVED.to_string()
    }

    fn verdict(&self, out: &Fields, _host_now: i64) -> Verdict {
        let until = out.get("until").unwrap_or_default();
        match out.get("served") {
            Some("expired") => Verdict {
                active: true,
                detail: format!("haproxy serves a certificate that expired {until}"),
            },
            Some("valid") => Verdict {
                active: false,
                detail: format!("haproxy serves a certificate valid until {until}"),
            },
            _ => Verdict {
                active: false,
                detail: "haproxy serves no certificate on port 443".into(),
            },
        }
    }

    /// Puts the kept certificate back only while the one in place has expired: a certificate
    /// the learner issued since stays.
    fn revert_script(&self, _host_now: Option<i64>) -> String {
        let Some(original) = &self.original else {
            return "echo 'nothing was changed'\n".to_string();
        };
        format!(
            r#"{}{}if [ -s "$keep/site.pem" ] && [ "$(sha256sum "$keep/site.pem" | cut -d' ' -f1)" != "$original" ]; then
  echo "$keep/site.pem is not the certificate the fault replaced: left as it is" >&2; exit 1
fi
if [ -s "$keep/site.pem" ]; then
  if [ ! -s "$pem" ] || ! openssl x509 -in "$pem" -noout -checkend 0 >/dev/null 2>&1; then
    cp -p "$keep/site.pem" "$pem.new" && mv -f "$pem.new" "$pem"
    echo "put back the certificate $pem had before"
    if systemctl is-active --quiet haproxy; then systemctl reload haproxy && echo "reloaded haproxy"; fi
  else
    echo "kept $pem: it was replaced by a valid certificate since"
  fi
  rm -f "$keep/site.pem"
  rmdir "$keep" 2>/dev/null || true
fi
"#,
            vars(),
            var("original", original)
        )
    }
}

#[cfg(test)]
#[path = "cert_expired_tests.rs"]
mod tests;
