from deckrun.outputs import CellResult, Error, OutputCollector, Rich, Stream, clean_terminal_text


def test_terminal_noise_is_cleaned():
    text = "\x1b[32mgreen\x1b[0m\n 10%|#    \r 60%|###  \r100%|#####|\ntypo\b\b\bxt"
    assert clean_terminal_text(text) == "green\n100%|#####|\ntxt"


def test_stream_chunks_are_merged_and_cleaned():
    collector = OutputCollector()
    collector.stream("stdout", "a")
    collector.stream("stdout", "b\n")
    collector.stream("stderr", "warn\n")
    collector.stream("stdout", "\n")
    result = collector.result(0.5)
    assert result.outputs == (Stream("stdout", "ab"), Stream("stderr", "warn"))


def test_result_round_trips_through_json():
    result = CellResult((Stream("stdout", "x"), Rich({"text/plain": "1"}, True),
                         Error("ValueError", "bad", "tb", 3)), 1.5)
    assert CellResult.from_json(result.to_json()) == result
    assert result.error == Error("ValueError", "bad", "tb", 3)
