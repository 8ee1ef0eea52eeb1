import base64
import io

from PIL import Image

from deckrun.execute.capture import OutputCollector, OutputLimits, clean_terminal_text, image_size, secret_values
from deckrun.execute.outputs import Error, Rich, Stream


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


def test_output_past_the_limits_is_cut_with_a_marker():
    collector = OutputCollector(OutputLimits(lines=3, megabytes=0.001))  # 1048 bytes
    for n in range(100_000):
        collector.stream("stdout", f"line {n}\n")
    result = collector.result(1.0)
    text = result.outputs[0].text
    assert text.startswith("line 0\nline 1\nline 2\n... (99997 more lines not kept")
    assert len(text) < 300 and result.notes and "99997 lines not kept" in result.notes[0]


def test_secret_values_are_masked_everywhere():
    env = {"HF_TOKEN": "hf_abcdef123", "DB_PASSWORD": "pa55word", "API_KEY_COUNT": "1", "HOME": "/root",
           "COURSE_CODE": "ICT99"}
    secrets = secret_values(env, named=("COURSE_CODE",))
    assert set(secrets) == {"hf_abcdef123", "pa55word", "ICT99"}   # "1" is no secret
    collector = OutputCollector(secrets=secrets)
    collector.stream("stdout", "token hf_abc")
    collector.stream("stdout", "def123 and pa55word\n")           # split across chunks
    collector.rich({"text/plain": "'hf_abcdef123'", "text/html": "<b>ICT99</b>"}, True)
    collector.error(Error("ValueError", "bad hf_abcdef123", "Traceback ... hf_abcdef123", 1))
    result = collector.result(0.1)
    assert result.outputs[0] == Stream("stdout", "token **** and ****")
    assert result.outputs[1] == Rich({"text/plain": "'****'", "text/html": "<b>****</b>"}, True)
    assert "hf_abcdef123" not in str(result.outputs[2])


def png(width: int, height: int) -> str:
    out = io.BytesIO()
    Image.new("L", (width, height), 255).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


def test_huge_figures_are_scaled_down_or_left_out():
    collector = OutputCollector(OutputLimits(figure_side=500, figure_megapixels=1.0))
    collector.rich({"image/png": png(800, 400), "text/plain": "<Figure>"}, False)
    collector.rich({"image/png": png(1500, 1500), "text/plain": "<Figure big>"}, False)
    result = collector.result(0.1)
    scaled = base64.b64decode(result.outputs[0].data["image/png"])
    assert image_size(scaled) == (500, 250)
    assert "image/png" not in result.outputs[1].data and result.outputs[1].data["text/plain"] == "<Figure big>"
    assert [n.split(" was ")[1].split(":")[0] for n in result.notes] == ["scaled down to 500 x 250 px", "left out"]
