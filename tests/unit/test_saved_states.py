"""The worker's plain-data parts: saved KV caches (which comes back, what they may hold) and
the lookup drafts (what follows the last tokens' earlier occurrence)."""

from hearth.model.worker import SavedStates, _lookup, _Saved


def saved(tokens, size=10):
    return _Saved(tuple(tokens), b"x" * size)


def test_the_state_sharing_the_longest_start_with_the_prompt_is_the_one_restored():
    states = SavedStates(max_states=4, max_bytes=1000)
    states.add(saved([1, 2, 3, 4]))
    states.add(saved([1, 2, 9, 9, 9]))
    best, shared = states.best([1, 2, 9, 9, 5])
    assert best.tokens == (1, 2, 9, 9, 9) and shared == 4
    assert SavedStates(4, 1000).best([1]) is None


def test_states_are_bounded_in_number_and_bytes_and_a_state_another_holds_is_not_kept_twice():
    states = SavedStates(max_states=2, max_bytes=25)
    for first in range(3):
        states.add(saved([first, 0, 0]))
    assert len(states) == 2 and states.best([0, 0, 0])[1] < 3  # the oldest went first
    states.add(saved([7, 7], size=20))
    assert states.bytes <= 25
    states = SavedStates(max_states=4, max_bytes=1000)
    states.add(saved([1, 2, 3]))
    states.add(saved([1, 2, 3, 4, 5]))  # it holds the first: the first goes
    states.add(saved([1, 2]))  # held by the longer one: not kept
    assert len(states) == 1
    assert not SavedStates(0, 1000).enabled
    too_big = SavedStates(4, 5)
    too_big.add(saved([1], size=6))
    assert len(too_big) == 0


def test_a_place_visited_again_keeps_one_slot_and_the_one_used_last_goes_last():
    """Four places, visited in turn, with room for four: each visit ends with a different
    suggestion, which must replace that place's older state rather than push another place out."""
    states = SavedStates(max_states=4, max_bytes=10_000, spare=3)
    places = [[place] * 10 for place in range(4)]
    for visit in range(3):
        for place, prompt in enumerate(places):
            states.add(saved([*prompt, 100 + visit]))  # the prompt, then what was generated there
            assert len(states) == min(4, place + 1 + 4 * visit)
    for prompt in places:
        assert states.best([*prompt, 5])[1] == 10
    # Restored, a state is the newest: the next one added pushes out the least recently used.
    states.used(states.best(places[0])[0])
    states.add(saved([9] * 10))
    assert states.best(places[0])[1] == 10 and states.best(places[1])[1] == 0
    # A state that a new one holds entirely stays, as the most recently used.
    states.add(saved(places[2][:5]))
    states.add(saved([8] * 10))
    assert states.best(places[2])[1] == 10 and states.best(places[3])[1] == 0


def test_a_draft_is_what_followed_the_latest_earlier_occurrence_of_the_last_tokens():
    history = [1, 2, 3, 4, 5, 9, 1, 2, 3, 7, 8, 1, 2, 3]
    assert _lookup(history, (3, 2), 2) == [7, 8]  # the latest earlier "1 2 3", not the first
    assert _lookup([5, 6, 9, 6], (3, 2), 4) == []  # no earlier "9 6" nor "6 9 6"
    assert _lookup([4, 6, 1, 6], (3, 1), 4) == [1, 6]  # a shorter n-gram when the longer has none
    assert _lookup([1], (3, 2), 4) == []
