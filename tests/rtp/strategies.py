"""Hypothesis strategies for RTP values, shared by the rtp and srtp tests."""

from hypothesis import strategies as st

from sipperc.rtp import ExtensionElement, HeaderExtension, RtpPacket

u32 = st.integers(0, 0xFFFFFFFF)

one_byte_elements = st.builds(ExtensionElement, st.integers(1, 14), st.binary(min_size=1,
                                                                             max_size=16))
two_byte_elements = st.builds(ExtensionElement, st.integers(1, 255), st.binary(max_size=40))

extensions = st.one_of(
    st.lists(one_byte_elements, max_size=5).map(HeaderExtension.from_elements),
    st.lists(two_byte_elements, max_size=4).map(
        lambda items: HeaderExtension.from_elements(items, two_byte=True)),
    st.builds(HeaderExtension, st.integers(0, 0xFFFF),
              st.binary(max_size=24).map(lambda b: b + bytes(-len(b) % 4))),
)

rtp_packets = st.builds(
    RtpPacket,
    marker=st.booleans(),
    payload_type=st.integers(0, 127),
    sequence_number=st.integers(0, 0xFFFF),
    timestamp=u32,
    ssrc=u32,
    csrcs=st.lists(u32, max_size=15).map(tuple),
    extension=st.none() | extensions,
    payload=st.binary(max_size=300),
    padding=st.sampled_from([0, 0, 0, 1, 4, 255]),
)
