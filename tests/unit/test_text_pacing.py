"""The worker's pacing of streamed text: first piece at once, then a frame's pace."""

from chatdesk.core.text_pacing import PacedText, TextPacer


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make() -> tuple[TextPacer, list[PacedText], FakeClock]:
    sent: list[PacedText] = []
    clock = FakeClock()
    return TextPacer(sent.append, interval_s=0.025, clock=clock), sent, clock


def test_first_piece_goes_out_at_once() -> None:
    pacer, sent, _ = make()
    pacer.feed("Hello", 1, 10)
    assert [p.text for p in sent] == ["Hello"]
    assert sent[0].tokens_so_far == 1 and sent[0].context_used == 10


def test_pieces_within_a_frame_are_joined_and_counts_are_the_latest() -> None:
    pacer, sent, clock = make()
    pacer.feed("A", 1, 10)
    for i, piece in enumerate(["b", "c", "d"], start=2):
        clock.now += 0.005
        pacer.feed(piece, i, 9 + i)
    assert [p.text for p in sent] == ["A"]  # held: within 25 ms of the last send
    clock.now += 0.011  # 26 ms after the first send
    pacer.feed("e", 5, 14)
    assert [p.text for p in sent] == ["A", "bcde"]
    assert (sent[1].tokens_so_far, sent[1].context_used) == (5, 14)
    assert sent[1].last_piece_at - sent[1].first_piece_at == clock.now - 100.0


def test_flush_hands_over_the_rest_and_nothing_twice() -> None:
    pacer, sent, clock = make()
    pacer.feed("A", 1, 1)
    clock.now += 0.001
    pacer.feed("B", 2, 2)
    pacer.flush()
    pacer.flush()
    assert "".join(p.text for p in sent) == "AB"
    assert len(sent) == 2


def test_slow_stream_sends_every_piece() -> None:
    pacer, sent, clock = make()
    for i in range(5):
        pacer.feed(str(i), i + 1, i + 1)
        clock.now += 0.1
    assert [p.text for p in sent] == ["0", "1", "2", "3", "4"]


def test_no_interval_sends_every_piece_as_it_comes() -> None:
    """A server's stream can stall mid-answer: its pieces are never held."""
    sent: list[PacedText] = []
    pacer = TextPacer(sent.append, interval_s=0.0, clock=FakeClock())
    for i, piece in enumerate("abc", start=1):
        pacer.feed(piece, i, i)
    assert [p.text for p in sent] == ["a", "b", "c"]
