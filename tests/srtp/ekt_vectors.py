"""EKT with the single transforms: vectors computed with sipperc, shared by tests.

EKTKey 00..0f (AESKW_128), SPI 0x1234, SRTP master salt a0..ad, SSRC 0x000a11ce, the random
SRTP master key 40..4f the sender picks, ROC 0 and one RTP packet; each vector is the packet
with its FullEKTField (epoch 0) as the sender's first packet. The field is checked against RFC
5649 in tests/srtp/test_ekt_session.py and the SRTP part against libsrtp, with the key the
field carries, in tests/interop/test_srtp_libsrtp.py.
"""

from sipperc.rtp import RtpPacket
from sipperc.srtp import EKTCipher, EKTParameterSet, Profile

VECTOR_SSRC = 0x000A11CE
VECTOR_KEY = bytes(range(0x40, 0x50))
VECTOR_PARAMETER_SET = EKTParameterSet(ekt_key_value=bytes(range(16)),
                                       srtp_master_salt=bytes(range(0xA0, 0xAE)), ekt_spi=0x1234,
                                       ekt_ttl=3600, cipher=EKTCipher.AESKW_128)
VECTOR_RTP = bytes(RtpPacket(True, 0, 0x1234, 0xDECAFBAD, VECTOR_SSRC,
                             payload=b"EKT for one layer"))
# The FullEKTField is the same in both vectors: key, SSRC, ROC and EKTKey are.
EKT_FIELD = ("08aebf050b787e1e729d214bf27a09e98bfb1dd4002912b4a14bc2369a6ab1b29a2b574a10173da9"
             "12340000002f02")
VECTORS = {
    Profile.AES_CM_128_HMAC_SHA1_80: "80801234decafbad000a11ce"
    "d26a22d66c30ff236a2884d2730ed5099f" "2c3958f8b2a126f3efe5" + EKT_FIELD,
    Profile.AEAD_AES_128_GCM: "80801234decafbad000a11ce"
    "649582fa4637b3ee1fbe15c44a39eef352" "612b148e2ab011c312183e04d10fef1b" + EKT_FIELD,
}
