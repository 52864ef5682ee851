"""A throwaway test CA and a leaf certificate for `backbeat.test` and 127.0.0.1, valid
2000-2100, made with openssl for these tests only (the key protects nothing)."""

from __future__ import annotations

import ssl
from pathlib import Path

CA_CERT = """\
-----BEGIN CERTIFICATE-----
MIIDFzCCAf+gAwIBAgICEAAwDQYJKoZIhvcNAQELBQAwGzEZMBcGA1UEAwwQQmFj
a2JlYXQgVGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFow
GzEZMBcGA1UEAwwQQmFja2JlYXQgVGVzdCBDQTCCASIwDQYJKoZIhvcNAQEBBQAD
ggEPADCCAQoCggEBAMpwWAyxfmrTX0E53XBkx5b4ji7V6kIFq782ePnoOaRNRiN0
ADeg9MljYUuKfe5QfFa3HJWtsX5ZfoRdUqmYYRLTVwb9D+WYckLLU9f4GtBYm+iZ
+PrMbHgzNKbwbvvqBHKqYVmQfPkniVsehVLtmRXwjY9Edh2lEcyjUjrPpFF41a4Q
TswgtMlF6aaso6xd8tMtTV5VKhWNby5thk/wltMiD7xwSw9vY8D55v4cY94mp8gq
Yke7STAJaa0+YwZP02X0q8MVzPdNq/KikmDyO2bZQrOawgi6WlAFHM44FKXc6cBs
MYAsjkh+qq4YaHG3SZbzw7duwBlA9N9IklFE01UCAwEAAaNjMGEwDwYDVR0TAQH/
BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAQYwHQYDVR0OBBYEFHr8sFsJBM8sYSuzFQi5
bvyPgfN8MB8GA1UdIwQYMBaAFHr8sFsJBM8sYSuzFQi5bvyPgfN8MA0GCSqGSIb3
DQEBCwUAA4IBAQCjSQyEcl9x3Xvu8M8v9cm10meEX5LWWLOqaepqqO9/qa6mIvWz
4DX28ufIawRxWaLeO6PWeTs+WUuqnLNrmoRVqzvhnr84muoA2AzzJTi/eiwZ1f8Q
T93FG0jtAwuBKk5T/lXPjhFd/aF0uxbo8firESX8e8G16dWWQGVKQ4M6OtZbKVif
F1bxvGn6ZLs2o3Mj6tp1Inf77ITsbIeT3K3FnFcVgQS52Lz+LaMEFdFcxe4FRVko
/biMFUWfX6yO09uxD8maPOL6tcrfP+jLdrGU5Rv0E/BuArD4oElf7fVYQrTtdvxm
s/EYgNpALxUESHQWrPBE+EKn8D6q/J/aKbDF
-----END CERTIFICATE-----
"""

LEAF_CERT = """\
-----BEGIN CERTIFICATE-----
MIICfTCCAWWgAwIBAgICEAIwDQYJKoZIhvcNAQELBQAwGzEZMBcGA1UEAwwQQmFj
a2JlYXQgVGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFow
GDEWMBQGA1UEAwwNYmFja2JlYXQudGVzdDBZMBMGByqGSM49AgEGCCqGSM49AwEH
A0IABJDCkBFMKod1Mtn5Q4gCf0TNxBMMJ0SqJDKfpDzM8HPM/kgcTLajDIj6cXMp
iCfrO37H6uokQ4G9Aus03D8WKt2jgZYwgZMwHgYDVR0RBBcwFYINYmFja2JlYXQu
dGVzdIcEfwAAATAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQEAwIFoDATBgNVHSUE
DDAKBggrBgEFBQcDATAdBgNVHQ4EFgQUlme8eLLU05OUpcPu8V/lt0UcoIUwHwYD
VR0jBBgwFoAUevywWwkEzyxhK7MVCLlu/I+B83wwDQYJKoZIhvcNAQELBQADggEB
AEB48GjrBy1muoQ7itCfIWW16T2yZOYax1huYko4fzgkfexTWfD0wk8UFgE6w0ZJ
W7rZnnDy8F0a4p/kZwYPbKSg/Olgc4dce34R4Z2gVr20pBVHuwZvqlPdwcXfPL4Q
bY5nhgV2lc/uPCcBkXknzYEVsDyHkqQ02Pw2f7H2P4R4GA1GaWdLokif52fKuy5z
6DMaYA62ni9YSRovFhX+0EfDlGh83BDFy+0TjW6xcctecFpNG4voWv3utz60eEcb
r8YEpGdtKmJJXdUAUuyvKcA2n/mf+JSyt5e+KrOxx+n025x6OI3l/NiKYonxjExB
Fc57zGKkPmHbFPk++XCeEfE=
-----END CERTIFICATE-----
"""

LEAF_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgMd3p8JymJRbfbOUN
wuBZg40iu55fGOkr1srFuYJfZr2hRANCAASQwpARTCqHdTLZ+UOIAn9EzcQTDCdE
qiQyn6Q8zPBzzP5IHEy2owyI+nFzKYgn6zt+x+rqJEOBvQLrNNw/Fird
-----END PRIVATE KEY-----
"""


def client_context() -> ssl.SSLContext:
    """Verifies certificates against the test CA only."""
    return ssl.create_default_context(cadata=CA_CERT)


def server_context(directory: Path) -> ssl.SSLContext:
    """Serves the leaf certificate (load_cert_chain wants files)."""
    cert, key = directory / "leaf.pem", directory / "leaf.key"
    cert.write_text(LEAF_CERT)
    key.write_text(LEAF_KEY)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
