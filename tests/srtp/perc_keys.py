"""Keys and packets of the self-computed double SRTP vector of perc.md §7, shared by tests."""

from sipperc.srtp import Profile

DOUBLE = Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM
DOUBLE_256 = Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM
INNER_KEY, OUTER_KEY = bytes(range(16)), bytes(range(0x10, 0x20))
INNER_SALT, OUTER_SALT = bytes(range(0x40, 0x4C)), bytes(range(0x50, 0x5C))
RECIPIENT_KEY, RECIPIENT_SALT = bytes(range(0x20, 0x30)), bytes(range(0x60, 0x6C))
RTP = bytes.fromhex("8040f17b8041f8d35501a0b2"
                    "47616c6c696120657374206f6d6e69732064697669736120696e207061727465732074726573")
SENDER_TO_MD = bytes.fromhex(
    "8040f17b8041f8d35501a0b2f19684a61af6e5c1fbf0611ae84aa79ff9eb00b13620eff0351cf53ff97183"
    "06eb1e1728afc8b7cd17fe8f7a98409342bcaca35f2d933732ee610a78e7bfb06cc696f71ef1c472")
MD_TO_RECIPIENT = bytes.fromhex(
    "806000018041f8d35501a0b276819c8dc9caf12d11b12f8e268a1e2231999a3a3359d287120de35f02846d"
    "b7694a64de71554f718ede4f014a6700f59a0ee49d4a1bec8147fb8a01d9988a050156bf11ee81829fb25b")
