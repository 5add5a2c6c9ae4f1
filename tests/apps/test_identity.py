"""sipperc identity: create a DTLS identity, print fingerprints."""

from __future__ import annotations

import stat

from sipperc.cli import ExitCode, main
from sipperc.dtls import Fingerprint, Identity


def test_create_then_show_the_same_fingerprint(tmp_path, capsys):
    cert, key = tmp_path / "kd.crt", tmp_path / "kd.key"
    assert main(["identity", "--create", "--cert", str(cert), "--key", str(key),
                 "--name", "Key Distributor"]) == ExitCode.OK
    created = capsys.readouterr().out.strip()
    assert created.startswith("a=fingerprint:sha-256 ")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    identity = Identity.from_pem(cert.read_bytes(), key.read_bytes())
    assert created == f"a=fingerprint:{identity.fingerprint}"
    assert main(["identity", "--cert", str(cert)]) == ExitCode.OK
    assert capsys.readouterr().out.strip() == created
    assert main(["identity", "--cert", str(cert), "--hash", "sha-1"]) == ExitCode.OK
    sha1 = capsys.readouterr().out.strip().removeprefix("a=fingerprint:")
    assert Fingerprint.parse(sha1).matches(identity.certificate_der)


def test_refuses_to_overwrite_and_reports_bad_files(tmp_path, capsys):
    cert, key = tmp_path / "a.crt", tmp_path / "a.key"
    cert.write_text("not a certificate")
    assert main(["identity", "--create", "--cert", str(cert), "--key", str(key)]) == \
        ExitCode.FAILURE
    assert "not overwriting" in capsys.readouterr().err
    assert main(["identity", "--cert", str(cert)]) == ExitCode.DATA
    assert main(["identity", "--create", "--cert", str(tmp_path / "b.crt")]) == ExitCode.USAGE
    assert main(["identity", "--create", "--cert", str(tmp_path / "b.crt"), "--key",
                 str(tmp_path / "b.key"), "--days", "0"]) == ExitCode.USAGE
    assert not (tmp_path / "b.key").exists()
