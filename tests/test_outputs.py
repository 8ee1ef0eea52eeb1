from deckrun.execute.outputs import OUTPUT_KINDS, CellResult, Error, Rich, Stream, best_kind


def test_result_round_trips_through_json():
    result = CellResult((Stream("stdout", "x"), Rich({"text/plain": "1"}, True),
                         Error("ValueError", "bad", "tb", 3)), 1.5, "2026-11-21T10:00:00+00:00",
                        ("output cut",))
    assert CellResult.from_json(result.to_json()) == result
    assert result.error == Error("ValueError", "bad", "tb", 3)


def test_the_best_kind_of_a_bundle_goes_on_the_slide():
    assert best_kind({"text/plain": "<Figure>", "image/png": "iVBOR"}).extension == "png"
    assert best_kind({"text/plain": "x", "text/html": "<b>x</b>"}).template == "html"
    assert best_kind({"application/x-unknown": "?"}) is None
    assert [k.mime for k in OUTPUT_KINDS if k.binary] == ["image/png", "image/jpeg"]
