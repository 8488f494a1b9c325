// The private key of the DANE test MX hosts: a throwaway ECDSA P-256 key made for these tests only, never
// used anywhere else. Its SubjectPublicKeyInfo digest is published as TLSA "3 1 1" in the test zones
// (zones.ts) before any certificate exists; tests issue certificates for this key (test-ca.ts).

/** PKCS#8 PEM. */
export const DANE_MX_KEY_PEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgoHq72Td7Pj7cmjgH
GXhK+6YT1jN1+QquXYljQPqaWxihRANCAASQO+SN4jJaZEUpXCuALf/lNGTfNpaH
6/3n0VB8BZQWvdbVI34+69g2Vloa1t9jpvql0NQmnFqfIpI4rYFLsTAy
-----END PRIVATE KEY-----
`;

/** SHA-256 of the key's DER SubjectPublicKeyInfo (`openssl pkey -pubout -outform DER | sha256sum`), checked by test/unit/dane.test.ts. */
export const DANE_MX_SPKI_SHA256 = "28fce6731d869b6fe6f1fe4e786d624e681e1ef1cf4bc1055f09f1aef9167989";

// The key of a DANE-TA trust anchor (RFC 7672 §3.1.1): a throwaway ECDSA P-256 key for a test CA that
// tests make with it (makeTestCa's keyPem). Its SubjectPublicKeyInfo digest is published as TLSA
// "2 1 1" for the ta.dane.test hosts; their certificates are issued by that CA.

/** PKCS#8 PEM. */
export const DANE_TA_KEY_PEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgG9Crh7eJFZOi76EA
uK+RIDimCzH3BDf+ZP40A3o1hNmhRANCAARZ8Y+x09j+MpUM6J+dRpXkA7sCWGLs
AfgQb1ykwgXaTlBkyd/CZ7vAA3u9GgQ2LUNcw1Cd+1N/QRMMdYHlzBhW
-----END PRIVATE KEY-----
`;

/** SHA-256 of the trust anchor key's DER SubjectPublicKeyInfo, checked by test/unit/dane.test.ts. */
export const DANE_TA_SPKI_SHA256 = "a92b76cd74f0649e241585a258c5909d7d45cb06fe8ad4aa3f97bd0f3c7a2439";
