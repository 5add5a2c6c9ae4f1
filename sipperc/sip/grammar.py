"""The SIP grammar, transcribed rule by rule from the RFCs into named regular expressions.

Every fragment below is preceded by the ABNF rule it encodes and the section it comes from:
RFC 3261 §25 (SIP), RFC 3986 (generic URIs), RFC 3966 (tel URIs), RFC 5118 (IPv6 references),
RFC 3581 (rport), RFC 3262 (RSeq/RAck), RFC 3326 (Reason), RFC 3515 (Refer-To), RFC 3891
(Replaces), RFC 4028 (session timers) and RFC 6665 (events). Lower-case names are fragments
(strings to compose); upper-case names are the compiled patterns the parsers use. Nobody
writes a regular expression outside this module.

Two conventions apply throughout:

- Header values are matched *after* unfolding (RFC 3261 §7.3.1: a CRLF followed by
  whitespace is removed, keeping the whitespace), so ``LWS`` reduces to ``1*WSP`` and a CRLF
  never appears inside a value.
- Text is decoded from UTF-8 with ``surrogateescape``. ``UTF8-NONASCII`` matches any
  non-ASCII code point except surrogates, so octets that are not valid UTF-8 (which decode to
  lone surrogates) fail every rule that does not allow arbitrary octets.

Where the RFC's grammar is recursive (``comment``) or known to be wrong (the RFC 3261 IPv6
rule, RFC 5118 §4.10), the deviation is stated at the rule.
"""

from __future__ import annotations

import re

# --- RFC 5234 core rules (used by RFC 3261 §25) -----------------------------------------------

# ALPHA = %x41-5A / %x61-7A
alpha = r"[A-Za-z]"
# DIGIT = %x30-39
digit = r"[0-9]"
# HEXDIG = DIGIT / "A" / "B" / "C" / "D" / "E" / "F"  (case-insensitive in ABNF)
hexdig = r"[0-9A-Fa-f]"
# WSP = SP / HTAB
wsp = r"[ \t]"

# --- RFC 3261 §25.1 Basic Rules ---------------------------------------------------------------

# alphanum = ALPHA / DIGIT
alphanum = r"[A-Za-z0-9]"
# reserved = ";" / "/" / "?" / ":" / "@" / "&" / "=" / "+" / "$" / ","
reserved = r"[;/?:@&=+$,]"
# mark = "-" / "_" / "." / "!" / "~" / "*" / "'" / "(" / ")"
mark = r"[-_.!~*'()]"
# unreserved = alphanum / mark
unreserved = r"[A-Za-z0-9\-_.!~*'()]"
# escaped = "%" HEXDIG HEXDIG
escaped = rf"%{hexdig}{hexdig}"
# LWS = [*WSP CRLF] 1*WSP ; linear whitespace   (after unfolding: 1*WSP)
lws = r"[ \t]+"
# SWS = [LWS] ; sep whitespace
sws = r"[ \t]*"
# HCOLON = *( SP / HTAB ) ":" SWS
hcolon = rf"[ \t]*:{sws}"
# UTF8-NONASCII = %xC0-DF 1UTF8-CONT / ... / %xFC-FD 5UTF8-CONT  (as decoded code points)
utf8_nonascii = r"[\u0080-\ud7ff\ue000-\U0010ffff]"
# TEXT-UTF8char = %x21-7E / UTF8-NONASCII
text_utf8char = r"[\x21-\x7e\u0080-\ud7ff\ue000-\U0010ffff]"
# TEXT-UTF8-TRIM = 1*TEXT-UTF8char *(*LWS TEXT-UTF8char)
text_utf8_trim = rf"{text_utf8char}+(?:{sws}{text_utf8char}+)*"
# LHEX = DIGIT / %x61-66 ;lowercase a-f
lhex = r"[0-9a-f]"
# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
token = r"[A-Za-z0-9\-.!%*_+`'~]+"  # noqa: S105 - a grammar rule, not a secret
# word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" /
#        "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}" )
word = r"""[A-Za-z0-9\-.!%*_+`'~()<>:\\"/\[\]?{}]+"""
# STAR = SWS "*" SWS ; asterisk
star = rf"{sws}\*{sws}"
# SLASH = SWS "/" SWS ; slash
slash = rf"{sws}/{sws}"
# EQUAL = SWS "=" SWS ; equal
equal = rf"{sws}={sws}"
# LPAREN = SWS "(" SWS ; left parenthesis
lparen = rf"{sws}\({sws}"
# RPAREN = SWS ")" SWS ; right parenthesis
rparen = rf"{sws}\){sws}"
# RAQUOT = ">" SWS ; right angle quote
raquot = rf">{sws}"
# LAQUOT = SWS "<"; left angle quote
laquot = rf"{sws}<"
# COMMA = SWS "," SWS ; comma
comma = rf"{sws},{sws}"
# SEMI = SWS ";" SWS ; semicolon
semi = rf"{sws};{sws}"
# COLON = SWS ":" SWS ; colon
colon = rf"{sws}:{sws}"
# LDQUOT = SWS DQUOTE; open double quotation mark
ldquot = rf'{sws}"'
# RDQUOT = DQUOTE SWS ; close double quotation mark
rdquot = rf'"{sws}'
# ctext = %x21-27 / %x2A-5B / %x5D-7E / UTF8-NONASCII / LWS
ctext = r"[ \t\x21-\x27\x2a-\x5b\x5d-\x7e\u0080-\ud7ff\ue000-\U0010ffff]"
# quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
quoted_pair = r"\\[\x00-\x09\x0b\x0c\x0e-\x7f]"
# comment = LPAREN *(ctext / quoted-pair / comment) RPAREN
#   (recursive; Python's re has no recursion, so nesting is accepted three levels deep)
_comment_1 = rf"\((?:{ctext}|{quoted_pair})*\)"
_comment_2 = rf"\((?:{ctext}|{quoted_pair}|{_comment_1})*\)"
comment = rf"{sws}\((?:{ctext}|{quoted_pair}|{_comment_2})*\){sws}"
# qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
qdtext = r"[ \t\x21\x23-\x5b\x5d-\x7e\u0080-\ud7ff\ue000-\U0010ffff]"
# quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
#   (the fragment starts at the DQUOTE: callers put SWS where the surrounding rule needs it)
quoted_string = rf'"(?:{qdtext}|{quoted_pair})*"'

# --- RFC 3261 §25.1: hosts (with the RFC 3986 §3.2.2 IPv6 rule, as RFC 5118 §4.10 advises) ---

# IPv4address = 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT "." 1*3DIGIT
ipv4address = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
# RFC 3986 §3.2.2: h16 = 1*4HEXDIG ; ls32 = ( h16 ":" h16 ) / IPv4address
h16 = rf"{hexdig}{{1,4}}"
ls32 = rf"(?:{h16}:{h16}|{ipv4address})"
# RFC 3986 §3.2.2:
# IPv6address =                            6( h16 ":" ) ls32
#             /                       "::" 5( h16 ":" ) ls32
#             / [               h16 ] "::" 4( h16 ":" ) ls32
#             / [ *1( h16 ":" ) h16 ] "::" 3( h16 ":" ) ls32
#             / [ *2( h16 ":" ) h16 ] "::" 2( h16 ":" ) ls32
#             / [ *3( h16 ":" ) h16 ] "::"    h16 ":"   ls32
#             / [ *4( h16 ":" ) h16 ] "::"              ls32
#             / [ *5( h16 ":" ) h16 ] "::"              h16
#             / [ *6( h16 ":" ) h16 ] "::"
#   RFC 5118 §4.10: the RFC 3261 hexpart rule accepts "2001:db8:::1"; this one does not.
ipv6address = (
    "(?:"
    rf"(?:{h16}:){{6}}{ls32}"
    rf"|::(?:{h16}:){{5}}{ls32}"
    rf"|(?:{h16})?::(?:{h16}:){{4}}{ls32}"
    rf"|(?:(?:{h16}:){{0,1}}{h16})?::(?:{h16}:){{3}}{ls32}"
    rf"|(?:(?:{h16}:){{0,2}}{h16})?::(?:{h16}:){{2}}{ls32}"
    rf"|(?:(?:{h16}:){{0,3}}{h16})?::{h16}:{ls32}"
    rf"|(?:(?:{h16}:){{0,4}}{h16})?::{ls32}"
    rf"|(?:(?:{h16}:){{0,5}}{h16})?::{h16}"
    rf"|(?:(?:{h16}:){{0,6}}{h16})?::"
    ")"
)
# IPv6reference = "[" IPv6address "]"
ipv6reference = rf"\[{ipv6address}\]"
# domainlabel = alphanum / alphanum *( alphanum / "-" ) alphanum
domainlabel = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# toplabel = ALPHA / ALPHA *( alphanum / "-" ) alphanum
toplabel = r"[A-Za-z](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# hostname = *( domainlabel "." ) toplabel [ "." ]
hostname = rf"(?:{domainlabel}\.)*{toplabel}\.?"
# host = hostname / IPv4address / IPv6reference
#   (IPv4address first: "192.0.2.1" must not be half-matched as a hostname)
host = rf"(?:{ipv4address}(?![A-Za-z0-9.-])|{hostname}|{ipv6reference})"
# port = 1*DIGIT
port = r"[0-9]+"
# hostport = host [ ":" port ]
hostport = rf"{host}(?::{port})?"

# --- RFC 3261 §25.1: SIP and SIPS URIs ----------------------------------------------------------

# user-unreserved = "&" / "=" / "+" / "$" / "," / ";" / "?" / "/"
user_unreserved = r"[&=+$,;?/]"
# user = 1*( unreserved / escaped / user-unreserved )
user = rf"(?:[A-Za-z0-9\-_.!~*'()&=+$,;?/]|{escaped})+"
# password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
password = rf"(?:[A-Za-z0-9\-_.!~*'()&=+$,]|{escaped})*"
# userinfo = ( user / telephone-subscriber ) [ ":" password ] "@"
#   (telephone-subscriber's characters are a subset of user's, so "user" covers both)
userinfo = rf"{user}(?::{password})?@"
# param-unreserved = "[" / "]" / "/" / ":" / "&" / "+" / "$"
# paramchar = param-unreserved / unreserved / escaped
paramchar = rf"(?:[\[\]/:&+$A-Za-z0-9\-_.!~*'()]|{escaped})"
# pname = 1*paramchar ; pvalue = 1*paramchar
pname = rf"{paramchar}+"
pvalue = rf"{paramchar}+"
# other-param = pname [ "=" pvalue ]
#   (transport-param, user-param, method-param, ttl-param, maddr-param and lr-param are all
#   instances of other-param; their values are checked when they are read)
other_param = rf"{pname}(?:={pvalue})?"
# uri-parameter = transport-param / user-param / method-param / ttl-param / maddr-param
#               / lr-param / other-param
uri_parameter = other_param
# uri-parameters = *( ";" uri-parameter)
uri_parameters = rf"(?:;{uri_parameter})*"
# hnv-unreserved = "[" / "]" / "/" / "?" / ":" / "+" / "$"
# hname = 1*( hnv-unreserved / unreserved / escaped )
hname = rf"(?:[\[\]/?:+$A-Za-z0-9\-_.!~*'()]|{escaped})+"
# hvalue = *( hnv-unreserved / unreserved / escaped )
hvalue = rf"(?:[\[\]/?:+$A-Za-z0-9\-_.!~*'()]|{escaped})*"
# header = hname "=" hvalue
header = rf"{hname}={hvalue}"
# headers = "?" header *( "&" header )
headers = rf"\?{header}(?:&{header})*"
# SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
# SIPS-URI = "sips:" [ userinfo ] hostport uri-parameters [ headers ]
#   (scheme names are case-insensitive, RFC 3261 §19.1.4)
sip_uri = rf"(?i:sips?):(?:{userinfo})?{hostport}{uri_parameters}(?:{headers})?"

# --- RFC 3986 §3: generic URIs (absoluteURI of RFC 3261 §25.1, in its current form) -----------

# scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
scheme = r"[A-Za-z][A-Za-z0-9+\-.]*"
# pct-encoded = "%" HEXDIG HEXDIG ; sub-delims = "!" / "$" / "&" / "'" / "(" / ")" / "*" / "+"
#   / "," / ";" / "="
# pchar = unreserved / pct-encoded / sub-delims / ":" / "@"   (RFC 3986 unreserved: ALPHA /
#   DIGIT / "-" / "." / "_" / "~")
pchar = rf"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|{escaped})"
# query = *( pchar / "/" / "?" )
query = rf"(?:{pchar}|[/?])*"
# hier-part = "//" authority path-abempty / path-absolute / path-rootless / path-empty
#   (authority, path-abempty, path-absolute and path-rootless together are "*( pchar / "/" )"
#   once the authority's own characters - which are all pchars or "[" "]" - are admitted)
hier_part = rf"(?:{pchar}|[/\[\]])*"
# absolute-URI = scheme ":" hier-part [ "?" query ]
absolute_uri = rf"{scheme}:{hier_part}(?:\?{query})?"

# --- RFC 3966 §3: tel URIs ----------------------------------------------------------------------

# visual-separator = "-" / "." / "(" / ")"
# phonedigit = DIGIT / [ visual-separator ]
phonedigit = r"[0-9\-.()]"
# phonedigit-hex = HEXDIG / "*" / "#" / [ visual-separator ]
phonedigit_hex = r"[0-9A-Fa-f*#\-.()]"
# global-number-digits = "+" *phonedigit DIGIT *phonedigit
global_number_digits = rf"\+{phonedigit}*[0-9]{phonedigit}*"
# local-number-digits = *phonedigit-hex (HEXDIG / "*" / "#")*phonedigit-hex
local_number_digits = rf"{phonedigit_hex}*[0-9A-Fa-f*#]{phonedigit_hex}*"
# parameter = ";" pname ["=" pvalue ] ; pname = 1*( alphanum / "-" ) ; pvalue = 1*paramchar
#   (isdn-subaddress, extension and context are instances of parameter; their values are
#   checked when read)
tel_parameter = rf";[A-Za-z0-9-]+(?:={paramchar}+)?"
# telephone-subscriber = global-number / local-number
#   global-number = global-number-digits *par
#   local-number = local-number-digits *par context *par
telephone_subscriber = rf"(?:{global_number_digits}|{local_number_digits})(?:{tel_parameter})*"
# telephone-uri = "tel:" telephone-subscriber
telephone_uri = rf"(?i:tel):{telephone_subscriber}"

# --- RFC 3261 §25.1: Request-URI, start lines ----------------------------------------------------

# Request-URI = SIP-URI / SIPS-URI / absoluteURI
request_uri = rf"(?:{sip_uri}|{absolute_uri})"
# SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT
sip_version = r"SIP/[0-9]+\.[0-9]+"
# Method = INVITEm / ACKm / OPTIONSm / BYEm / CANCELm / REGISTERm / extension-method
# extension-method = token
method = token
# Request-Line = Method SP Request-URI SP SIP-Version CRLF
# Status-Code = ... / extension-code ; extension-code = 3DIGIT
status_code = r"[0-9]{3}"
# Reason-Phrase = *(reserved / unreserved / escaped / UTF8-NONASCII / UTF8-CONT / SP / HTAB)
reason_phrase = rf"(?:[;/?:@&=+$,A-Za-z0-9\-_.!~*'() \t\u0080-\ud7ff\ue000-\U0010ffff]|{escaped})*"
# Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF

# --- RFC 3261 §25.1: header names and generic values ----------------------------------------------

# header-name = token
header_name = token
# header-value = *(TEXT-UTF8char / UTF8-CONT / LWS)
#   plus quoted-pair: the specific header rules (quoted-string in display-name, gen-value...)
#   admit "\" followed by any octet but CR and LF, e.g. RFC 4475 §3.1.1.2's escaped NUL
header_value = rf"(?:{quoted_pair}|[ \t\x21-\x7e\u0080-\ud7ff\ue000-\U0010ffff])*"
# gen-value = token / host / quoted-string
gen_value = rf"(?:{token}|{host}|{quoted_string})"
# generic-param = token [ EQUAL gen-value ]
generic_param = rf"{token}(?:{equal}{gen_value})?"
# delta-seconds = 1*DIGIT
delta_seconds = r"[0-9]+"

# --- RFC 3261 §25.1: addresses (From, To, Contact, Route, Record-Route, Reply-To) ---------------

# display-name = *(token LWS)/ quoted-string
#   RFC 4475 §3.1.1.6: no LWS is needed between the last token and "<", so the tokens are
#   separated by LWS and the last one may be followed directly by LAQUOT.
display_name = rf"(?:{quoted_string}|{token}(?:{lws}{token})*)"
# addr-spec = SIP-URI / SIPS-URI / absoluteURI
addr_spec = rf"(?:{sip_uri}|{absolute_uri})"
# name-addr = [ display-name ] LAQUOT addr-spec RAQUOT
name_addr = rf"(?:{display_name})?{laquot}{addr_spec}{raquot}"
# RFC 3261 §20.10: "If the URI [in addr-spec form] contains a comma, question mark or semicolon,
# the URI MUST be enclosed in angle brackets"; parameters after an unbracketed URI belong to
# the header. An unbracketed addr-spec therefore has no uri-parameters, no headers, and no ";",
# "?" or "," in its user part.
addr_spec_bare = (
    rf"(?:(?i:sips?):(?:(?:[A-Za-z0-9\-_.!~*'()&=+$/]|{escaped})+(?::{password})?@)?{hostport}"
    rf"|{scheme}:(?:[A-Za-z0-9\-._~!$&'()*+=:@/\[\]]|{escaped})*)"
)
# tag-param = "tag" EQUAL token ; from-param = tag-param / generic-param
# from-spec = ( name-addr / addr-spec ) *( SEMI from-param )   (To: the same with to-param)
address_spec = rf"(?:{name_addr}|{addr_spec_bare})(?:{semi}{generic_param})*"
# qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
qvalue = r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)"
# contact-param = (name-addr / addr-spec) *(SEMI contact-params)
# contact-params = c-p-q / c-p-expires / contact-extension  (all generic-param shaped)
contact_param = address_spec
# route-param = name-addr *( SEMI rr-param ) ; rr-param = generic-param
route_param = rf"{name_addr}(?:{semi}{generic_param})*"

# --- RFC 3261 §25.1: Via (with RFC 3581 rport and RFC 5118 §4.5 received) ----------------------

# protocol-name = "SIP" / token ; protocol-version = token
# transport = "UDP" / "TCP" / "TLS" / "SCTP" / other-transport ; other-transport = token
# sent-protocol = protocol-name SLASH protocol-version SLASH transport
sent_protocol = rf"{token}{slash}{token}{slash}{token}"
# sent-by = host [ COLON port ]
sent_by = rf"{host}(?:{colon}{port})?"
# via-received = "received" EQUAL (IPv4address / IPv6address)
#   RFC 5118 §4.5: an IPv6 address in "received" is accepted with or without brackets.
via_received = rf"(?i:received){equal}(?:{ipv4address}|{ipv6address}|{ipv6reference})"
# via-params = via-ttl / via-maddr / via-received / via-branch / via-extension
#   (via-ttl, via-maddr, via-branch and rport (RFC 3581 §3: response-port = "rport"
#   [EQUAL 1*DIGIT]) are generic-param shaped; their values are checked when read)
via_params = rf"(?:{via_received}(?![^;, \t])|{generic_param})"
# via-parm = sent-protocol LWS sent-by *( SEMI via-params )
via_parm = rf"{sent_protocol}{lws}{sent_by}(?:{semi}{via_params})*"

# --- list rules: a value that may be comma-folded (RFC 3261 §7.3.1) -----------------------------


def _list_of(element: str) -> str:
    """``element *(COMMA element)`` (RFC 3261 §7.3.1: multiple values folded into one line)."""
    return rf"{element}(?:{comma}{element})*"


# Via = ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)
via_value = _list_of(via_parm)
# Contact = ("Contact" / "m" ) HCOLON ( STAR / (contact-param *(COMMA contact-param)))
contact_value = rf"(?:\*|{_list_of(contact_param)})"
# Route = "Route" HCOLON route-param *(COMMA route-param)   (Record-Route the same)
route_value = _list_of(route_param)
# CSeq = "CSeq" HCOLON 1*DIGIT LWS Method
cseq_value = rf"[0-9]+{lws}{method}"
# Call-ID = ( "Call-ID" / "i" ) HCOLON callid ; callid = word [ "@" word ]
callid = rf"{word}(?:@{word})?"
# Max-Forwards = "Max-Forwards" HCOLON 1*DIGIT ; Content-Length the same
digits_value = r"[0-9]+"
# m-type = discrete-type / composite-type (all tokens) ; m-subtype = extension-token / iana-token
# m-parameter = m-attribute EQUAL m-value ; m-value = token / quoted-string
m_parameter = rf"{token}{equal}(?:{token}|{quoted_string})"
# media-type = m-type SLASH m-subtype *(SEMI m-parameter)
media_type = rf"{token}{slash}{token}(?:{semi}{m_parameter})*"
# Allow = "Allow" HCOLON [Method *(COMMA Method)]
# Supported = ( "Supported" / "k" ) HCOLON [option-tag *(COMMA option-tag)]
# Require / Proxy-Require / Unsupported = ... HCOLON option-tag *(COMMA option-tag)
# option-tag = token
token_list = rf"(?:{_list_of(token)})?"
# Accept = "Accept" HCOLON [ accept-range *(COMMA accept-range) ]
# accept-range = media-range *(SEMI accept-param) ; media-range = ( "*/*" / ( m-type SLASH "*" )
#   / ( m-type SLASH m-subtype ) ) *( SEMI m-parameter )
accept_value = rf"(?:{_list_of(rf'{token}{slash}{token}(?:{semi}{generic_param})*')})?"
# auth-param = auth-param-name EQUAL ( token / quoted-string ) ; auth-param-name = token
auth_param = rf"{token}{equal}(?:{token}|{quoted_string})"
# challenge = ("Digest" LWS digest-cln *(COMMA digest-cln)) / other-challenge
# other-challenge = auth-scheme LWS auth-param *(COMMA auth-param) ; auth-scheme = token
#   (every digest-cln is auth-param shaped; RFC 7616 and RFC 8760 add parameters of that shape)
challenge = rf"{token}{lws}{_list_of(auth_param)}"
# credentials = ("Digest" LWS digest-response) / other-response  (the same shape)
credentials = challenge
# RFC 3262 §7.1: RSeq = "RSeq" HCOLON response-num ; response-num = 1*DIGIT
# RFC 3262 §7.2: RAck = "RAck" HCOLON response-num LWS CSeq-num LWS Method
rack_value = rf"[0-9]+{lws}[0-9]+{lws}{method}"
# RFC 4028 §4: Session-Expires = ( "Session-Expires" / "x" ) HCOLON delta-seconds
#   *( SEMI se-params ) ; se-params = refresher-param / generic-param
# RFC 4028 §5: Min-SE = "Min-SE" HCOLON delta-seconds *(SEMI generic-param)
delta_with_params = rf"{delta_seconds}(?:{semi}{generic_param})*"
# RFC 6665 §8.4: Event = ( "Event" / "o" ) HCOLON event-type *( SEMI event-param )
#   event-type = event-package *( "." event-template ) ; event-package = token-nodot
#   event-param = generic-param / ( "id" EQUAL token )
event_value = rf"{token}(?:{semi}{generic_param})*"
# RFC 6665 §8.4: Subscription-State = "Subscription-State" HCOLON substate-value
#   *( SEMI subexp-params ) ; substate-value = "active" / "pending" / "terminated"
#   / extension-substate ; subexp-params = ("reason" EQUAL event-reason-value)
#   / ("expires" EQUAL delta-seconds) / ("retry-after" EQUAL delta-seconds) / generic-param
subscription_state_value = event_value
# RFC 3515 §2.1: Refer-To = ("Refer-To" / "r") HCOLON ( name-addr / addr-spec )
#   *(SEMI refer-param) ; refer-param = generic-param
refer_to_value = address_spec
# RFC 3891 §6.1: Replaces = "Replaces" HCOLON callid *(SEMI replaces-param)
#   replaces-param = to-tag / from-tag / early-flag / generic-param
replaces_value = rf"{callid}(?:{semi}{generic_param})*"
# RFC 3326 §2: Reason = "Reason" HCOLON reason-value *(COMMA reason-value)
#   reason-value = protocol *(SEMI reason-params) ; protocol = "SIP" / "Q.850" / token
#   reason-params = protocol-cause / reason-text / reason-extension (generic-param shaped)
reason_value = _list_of(rf"{token}(?:{semi}{generic_param})*")
# RFC 3261 §25.1: Date = "Date" HCOLON SIP-date ; SIP-date = rfc1123-date
#   rfc1123-date = wkday "," SP date1 SP time SP "GMT" ; date1 = 2DIGIT SP month SP 4DIGIT
#   time = 2DIGIT ":" 2DIGIT ":" 2DIGIT
wkday = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
month = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
rfc1123_date = rf"{wkday}, [0-9]{{2}} {month} [0-9]{{4}} [0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}} GMT"
# Timestamp = "Timestamp" HCOLON 1*(DIGIT) [ "." *(DIGIT) ] [ LWS delay ]
#   delay = *(DIGIT) [ "." *(DIGIT) ]
timestamp_value = rf"[0-9]+(?:\.[0-9]*)?(?:{lws}[0-9]*(?:\.[0-9]*)?)?"

# --- compiled patterns used by the parsers --------------------------------------------------------


def _full(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.ASCII)


TOKEN = _full(token)
LWS_RE = _full(lws)
COMMA_RE = _full(comma)
SEMI_RE = _full(semi)
REQUEST_LINE = _full(rf"(?P<method>{method}) (?P<uri>[^ ]*) (?P<version>[^ ]*)")
STATUS_LINE = _full(r"(?P<version>[^ ]*) (?P<code>[^ ]*) (?P<reason>.*)")
SIP_VERSION = _full(sip_version)
STATUS_CODE = _full(status_code)
REASON_PHRASE = _full(reason_phrase)
HEADER_VALUE = _full(header_value)

# URIs, with their parts captured.
SIP_URI = _full(
    rf"(?P<scheme>(?i:sips?)):(?:(?P<user>{user})(?::(?P<password>{password}))?@)?"
    rf"(?P<host>{host})(?::(?P<port>{port}))?(?P<params>{uri_parameters})(?:\?(?P<headers>{header}(?:&{header})*))?"
)
TEL_URI = _full(
    rf"(?P<scheme>(?i:tel)):(?P<number>{global_number_digits}|{local_number_digits})"
    rf"(?P<params>(?:{tel_parameter})*)"
)
ABSOLUTE_URI = _full(rf"(?P<scheme>{scheme}):(?P<rest>{hier_part}(?:\?{query})?)")
SCHEME = _full(rf"(?P<scheme>{scheme}):")
URI_PARAMETER = _full(rf";(?P<name>{pname})(?:=(?P<value>{pvalue}))?")
URI_HEADER = _full(rf"(?P<name>{hname})=(?P<value>{hvalue})")
TEL_PARAMETER = _full(rf";(?P<name>[A-Za-z0-9-]+)(?:=(?P<value>{paramchar}+))?")
ESCAPED = _full(escaped)
HOST = _full(host)
IPV4ADDRESS = _full(ipv4address)
IPV6ADDRESS = _full(ipv6address)
IPV6REFERENCE = _full(ipv6reference)
PORT = _full(port)

# Whole header values (validated with fullmatch) and their elements (captured one at a time).
VIA_VALUE = _full(via_value)
VIA_PARM = _full(
    rf"(?P<protocol>{token}){slash}(?P<version>{token}){slash}(?P<transport>{token}){lws}"
    rf"(?P<host>{host})(?:{colon}(?P<port>{port}))?(?P<params>(?:{semi}{via_params})*)"
)
VIA_PARAM = _full(
    rf"{semi}(?P<name>{token})(?:{equal}"
    rf"(?P<value>{ipv6address}(?![^;, \t])|{token}|{host}|{quoted_string}))?"
)
GENERIC_PARAM = _full(
    rf"{semi}(?P<name>{token})(?:{equal}(?P<value>{token}|{host}|{quoted_string}))?"
)
ADDRESS_VALUE = _full(address_spec)
ADDRESS = _full(
    rf"(?:(?P<display>{display_name})?{laquot}(?P<uri>{addr_spec}){raquot}"
    rf"|(?P<bare>{addr_spec_bare}))(?P<params>(?:{semi}{generic_param})*)"
)
CONTACT_VALUE = _full(contact_value)
ROUTE_VALUE = _full(route_value)
CSEQ_VALUE = _full(rf"(?P<seq>[0-9]+){lws}(?P<method>{method})")
CALLID = _full(callid)
DIGITS = _full(digits_value)
MEDIA_TYPE = _full(
    rf"(?P<type>{token}){slash}(?P<subtype>{token})(?P<params>(?:{semi}{m_parameter})*)"
)
M_PARAMETER = _full(rf"{semi}(?P<name>{token}){equal}(?P<value>{token}|{quoted_string})")
TOKEN_LIST = _full(token_list)
ACCEPT_VALUE = _full(accept_value)
CHALLENGE = _full(rf"(?P<scheme>{token}){lws}(?P<params>{_list_of(auth_param)})")
AUTH_PARAM = _full(rf"(?P<name>{token}){equal}(?P<value>{token}|{quoted_string})")
RACK_VALUE = _full(rf"(?P<rseq>[0-9]+){lws}(?P<seq>[0-9]+){lws}(?P<method>{method})")
DELTA_WITH_PARAMS = _full(rf"(?P<delta>{delta_seconds})(?P<params>(?:{semi}{generic_param})*)")
EVENT_VALUE = _full(rf"(?P<value>{token})(?P<params>(?:{semi}{generic_param})*)")
REPLACES_VALUE = _full(rf"(?P<callid>{callid})(?P<params>(?:{semi}{generic_param})*)")
REASON_VALUE = _full(reason_value)
REASON_ELEMENT = _full(rf"(?P<protocol>{token})(?P<params>(?:{semi}{generic_param})*)")
RFC1123_DATE = _full(rfc1123_date)
TIMESTAMP_VALUE = _full(timestamp_value)
QVALUE = _full(qvalue)
QUOTED_PAIR = _full(quoted_pair)
# The characters quoted-pair can carry that qdtext cannot: DQUOTE, "\" and controls but CR/LF.
NOT_QDTEXT = _full(r'["\\\x00-\x08\x0b\x0c\x0e-\x1f\x7f]')
