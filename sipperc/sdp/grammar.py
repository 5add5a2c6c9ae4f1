"""The SDP grammar, transcribed rule by rule into named regular expressions.

Each name is the ABNF rule it encodes, with the RFC section that defines it. Parsers in this
package use these names and nothing else, so a reader can check the whole grammar here against
the RFCs. Patterns are anchored by the parsers with ``fullmatch``.

ABNF string literals are case-insensitive (RFC 5234 §2.3), which is why ``sha-256``/``SHA-256``
and ``actpass``/``ACTPASS`` are both accepted where the rule is a quoted string.
"""

from __future__ import annotations

import re

# RFC 8866 §9: token-char = ALPHA / DIGIT / "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
#   "-" / "." / "^" / "_" / "`" / "{" / "|" / "}" / "~"
TOKEN_CHAR = r"[A-Za-z0-9!#$%&'*+\-.^_`{|}~]"  # noqa: S105 - a grammar, not a password
# RFC 8866 §9: token = 1*(token-char)
TOKEN = rf"{TOKEN_CHAR}+"
# RFC 8866 §6.6: encoding-name = token
ENCODING_NAME = re.compile(TOKEN)
# RFC 8866 §9: non-ws-string = 1*(VCHAR / %x80-FF)
NON_WS_STRING = r"[^\x00-\x20\x7f]+"
# RFC 8866 §9: byte-string = 1*(%x01-09 / %x0B-0C / %x0E-FF)
BYTE_STRING = r"[^\x00\r\n]+"
# RFC 8866 §9: text = byte-string
TEXT = BYTE_STRING
# RFC 8866 §9: integer = POS-DIGIT *DIGIT
INTEGER = r"[1-9][0-9]*"
# RFC 8866 §9: zero-based-integer = "0" / integer
ZERO_BASED_INTEGER = r"(?:0|[1-9][0-9]*)"
# RFC 8866 §9: sess-id = 1*DIGIT ; sess-version = 1*DIGIT ; port = 1*DIGIT
DIGITS = r"[0-9]+"
# RFC 8866 §9: fixed-len-time-unit = %s"d" / %s"h" / %s"m" / %s"s"
FIXED_LEN_TIME_UNIT = r"[dhms]"
# RFC 8866 §9: typed-time = 1*DIGIT [fixed-len-time-unit]
TYPED_TIME = rf"[0-9]+{FIXED_LEN_TIME_UNIT}?"
# RFC 8866 §9: repeat-interval = POS-DIGIT *DIGIT [fixed-len-time-unit]
REPEAT_INTERVAL = rf"[1-9][0-9]*{FIXED_LEN_TIME_UNIT}?"
# RFC 8866 §9: time = POS-DIGIT 9*DIGIT ; start-time = time / "0" ; stop-time = time / "0"
TIME = r"(?:0|[1-9][0-9]{9,})"

# RFC 8866 §5.1: v=0 is the only version.
VERSION_FIELD = re.compile(r"0")

# RFC 8866 §5.2: origin-field = %s"o" "=" username SP sess-id SP sess-version SP nettype SP
#   addrtype SP unicast-address
ORIGIN_FIELD = re.compile(
    rf"(?P<username>{NON_WS_STRING}) (?P<sess_id>{DIGITS}) (?P<sess_version>{DIGITS}) "
    rf"(?P<nettype>{TOKEN}) (?P<addrtype>{TOKEN}) (?P<address>{NON_WS_STRING})"
)

# RFC 8866 §5.7: connection-field = %s"c" "=" nettype SP addrtype SP connection-address
CONNECTION_FIELD = re.compile(
    rf"(?P<nettype>{TOKEN}) (?P<addrtype>{TOKEN}) (?P<address>{NON_WS_STRING})"
)
# RFC 8866 §9: IP4-multicast = m1 3( "." decimal-uchar ) "/" ttl [ "/" numaddr ]
#   IP6-multicast = IP6-address [ "/" numaddr ] ; ttl = (POS-DIGIT *2DIGIT) / "0"
CONNECTION_ADDRESS = re.compile(
    rf"(?P<host>[^/\x00-\x20]+)(?:/(?P<first>{ZERO_BASED_INTEGER}))?(?:/(?P<second>{INTEGER}))?"
)

# RFC 8866 §5.8: bandwidth-field = %s"b" "=" bwtype ":" bandwidth ; bwtype = token ;
#   bandwidth = 1*DIGIT
BANDWIDTH_FIELD = re.compile(rf"(?P<bwtype>{TOKEN}):(?P<bandwidth>{DIGITS})")

# RFC 8866 §5.9: time-field = %s"t" "=" start-time SP stop-time
TIME_FIELD = re.compile(rf"(?P<start>{TIME}) (?P<stop>{TIME})")
# RFC 8866 §5.10: repeat-field = %s"r" "=" repeat-interval SP typed-time 1*(SP typed-time)
REPEAT_FIELD = re.compile(rf"{REPEAT_INTERVAL} {TYPED_TIME}(?: {TYPED_TIME})+")
# RFC 8866 §5.11: zone-field = %s"z" "=" time SP ["-"] typed-time
#   *(SP time SP ["-"] typed-time)
ZONE_FIELD = re.compile(rf"{TIME} -?{TYPED_TIME}(?: {TIME} -?{TYPED_TIME})*")

# RFC 8866 §5.12: key-type = %s"prompt" / %s"clear:" text / %s"base64:" base64 /
#   %s"uri:" uri / key-method [":" text]  (kept as text; obsolete, never interpreted)
KEY_FIELD = re.compile(TEXT)

# RFC 8866 §5.13: attribute = (attribute-name ":" attribute-value) / attribute-name ;
#   attribute-name = token ; attribute-value = byte-string
ATTRIBUTE_NAME = re.compile(TOKEN)
ATTRIBUTE_VALUE = re.compile(BYTE_STRING)

# RFC 8866 §5.14: media-field = %s"m" "=" media SP port ["/" integer] SP proto 1*(SP fmt) ;
#   media = token ; proto = token *("/" token) ; fmt = token
MEDIA_FIELD = re.compile(
    rf"(?P<media>{TOKEN}) (?P<port>{DIGITS})(?:/(?P<count>{INTEGER}))? "
    rf"(?P<proto>{TOKEN}(?:/{TOKEN})*) (?P<formats>{TOKEN}(?: {TOKEN})*)"
)

# --- Attributes of RFC 8866 §6 --------------------------------------------------------------

# RFC 8866 §6.4/§6.5: ptime-value = non-zero-int-or-real ; maxptime-value = non-zero-int-or-real
#   non-zero-int-or-real = integer / non-zero-real ; non-zero-real = zero-based-integer "." *DIGIT
#   POS-DIGIT *DIGIT (the RFC's intent: a positive decimal number)
NON_ZERO_INT_OR_REAL = re.compile(r"[1-9][0-9]*|[0-9]+\.[0-9]*[1-9][0-9]*")

# RFC 8866 §6.6: rtpmap-value = payload-type SP encoding-name "/" clock-rate
#   ["/" encoding-params] ; payload-type = zero-based-integer ; encoding-name = token ;
#   clock-rate = integer ; encoding-params = channels ; channels = integer
RTPMAP_VALUE = re.compile(
    rf"(?P<pt>{ZERO_BASED_INTEGER}) (?P<name>{TOKEN})/(?P<rate>{INTEGER})"
    rf"(?:/(?P<params>{INTEGER}))?"
)

# RFC 8866 §6.15: fmtp-value = fmt SP format-specific-params ; format-specific-params =
#   byte-string
FMTP_VALUE = re.compile(rf"(?P<format>{TOKEN}) (?P<params>{BYTE_STRING})")

# --- RFC 3605 §2.1: rtcp-attribute = "a=rtcp:" port [nettype space addrtype space
#   connection-address] --------------------------------------------------------------------
RTCP_VALUE = re.compile(
    rf"(?P<port>{DIGITS})(?: (?P<nettype>{TOKEN}) (?P<addrtype>{TOKEN}) "
    rf"(?P<address>{NON_WS_STRING}))?"
)

# --- RFC 4145 §4: setup-attr = "a=setup:" role ; role = "active" / "passive" / "actpass" /
#   "holdconn" -------------------------------------------------------------------------------
SETUP_VALUE = re.compile(r"(?i:active|passive|actpass|holdconn)")

# --- RFC 8122 §5: fingerprint-attribute = "fingerprint" ":" hash-func SP fingerprint ;
#   hash-func = "sha-1" / "sha-224" / "sha-256" / "sha-384" / "sha-512" / "md5" / "md2" / token ;
#   fingerprint = 2UHEX *(":" 2UHEX).  Lower-case hex is accepted too: deployed stacks send it.
FINGERPRINT_VALUE = re.compile(
    rf"(?P<hash>{TOKEN}) (?P<digest>[0-9A-Fa-f]{{2}}(?::[0-9A-Fa-f]{{2}})*)"
)

# --- RFC 8842 §4: tls-id-value = 20*255(tls-id-char) ;
#   tls-id-char = ALPHA / DIGIT / "+" / "/" / "-" / "_" -------------------------------------
TLS_ID_VALUE = re.compile(r"[A-Za-z0-9+/\-_]{20,255}")

# --- RFC 4568 §9.1 ---------------------------------------------------------------------------
# "a=crypto:" tag 1*WSP crypto-suite 1*WSP key-params *(1*WSP session-param)
#   tag = 1*9DIGIT ; crypto-suite = 1*(ALPHA / DIGIT / "_") ;
#   key-params = key-param *(";" key-param) ; session-param = 1*(VCHAR)
CRYPTO_VALUE = re.compile(
    r"(?P<tag>[0-9]{1,9})[ \t]+(?P<suite>[A-Za-z0-9_]+)[ \t]+(?P<key_params>[!-~]+)"
    r"(?P<session_params>(?:[ \t]+[!-~]+)*)"
)
# key-param = key-method ":" key-info ; key-method = "inline" / key-method-ext ;
#   key-method-ext = 1*(ALPHA / DIGIT / "_")
KEY_PARAM = re.compile(r"(?P<method>[A-Za-z0-9_]+):(?P<info>[!-~]+)")
# RFC 4568 §9.2: srtp-key-info = key-salt ["|" lifetime] ["|" mki] ;
#   key-salt = 1*(base64) ; lifetime = ["2^"] 1*(DIGIT) ; mki = mki-value ":" mki-length ;
#   mki-value = 1*DIGIT ; mki-length = 1*3DIGIT
SRTP_KEY_INFO = re.compile(
    r"(?P<key_salt>[A-Za-z0-9+/]+={0,2})"
    r"(?:\|(?P<lifetime>(?:2\^)?[0-9]+))?"
    r"(?:\|(?P<mki_value>[0-9]+):(?P<mki_length>[0-9]{1,3}))?"
)

# --- RFC 8285 §8 -----------------------------------------------------------------------------
# extmap = mapentry SP extensionname [SP extensionattributes] ;
#   mapentry = "extmap:" 1*5DIGIT ["/" direction] ; extensionname = URI ;
#   direction = "sendonly" / "recvonly" / "sendrecv" / "inactive" ;
#   extensionattributes = byte-string
EXTMAP_VALUE = re.compile(
    r"(?P<id>[0-9]{1,5})(?:/(?P<direction>sendonly|recvonly|sendrecv|inactive))? "
    rf"(?P<uri>{NON_WS_STRING})(?: (?P<attributes>{BYTE_STRING}))?"
)

# --- RFC 5576 §4.1: ssrc-attr = "ssrc:" ssrc-id SP attribute ; ssrc-id = integer 0..2^32-1 ;
#   attribute as in RFC 8866 (name [":" value]) -----------------------------------------------
SSRC_VALUE = re.compile(
    rf"(?P<ssrc>{DIGITS}) (?P<name>{TOKEN})(?::(?P<value>{BYTE_STRING}))?"
)

# --- RFC 5888 §4: mid-attribute = "a=mid:" identification-tag ; identification-tag = token ;
#   §5: group-attribute = "a=group:" semantics *(SP identification-tag) ;
#   semantics = "LS" / "FID" / semantics-extension ; semantics-extension = token ---------------
MID_VALUE = re.compile(TOKEN)
GROUP_VALUE = re.compile(rf"(?P<semantics>{TOKEN})(?P<tags>(?: {TOKEN})*)")

# --- sipperc's PERC marker (see sipperc.sdp.perc):
#   sipperc-perc-value = perc-version SP perc-role *(SP token) ; perc-version = integer ;
#   perc-role = "endpoint" / "focus" / token
PERC_VALUE = re.compile(rf"(?P<version>{INTEGER}) (?P<role>{TOKEN})(?P<extensions>(?: {TOKEN})*)")
