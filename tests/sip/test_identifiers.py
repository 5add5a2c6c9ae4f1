from sipperc.sip import grammar
from sipperc.sip.identifiers import MAGIC_COOKIE, new_branch, new_call_id, new_tag


def test_identifiers_are_fresh_and_well_formed():
    branches = {new_branch() for _ in range(100)}
    assert len(branches) == 100 and all(b.startswith(MAGIC_COOKIE) for b in branches)
    assert all(grammar.TOKEN.fullmatch(b) for b in branches)
    assert grammar.TOKEN.fullmatch(new_tag()) and new_tag() != new_tag()
    assert grammar.CALLID.fullmatch(new_call_id("host.example")) and "@" not in new_call_id()
