from sipperc.media.null_device import NullSink, NullSource


def test_null_source_is_silent_and_endless():
    source = NullSource(16000)
    assert source.sample_rate == 16000 and not source.exhausted
    assert len(source.read(320)) == 320 and not source.read(320).any()


def test_null_sink_counts():
    sink = NullSink()
    sink.write(NullSource().read(160))
    sink.write(NullSource().read(40))
    assert sink.samples_written == 200
