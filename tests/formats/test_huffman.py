"""companion.formats.huffman: code lengths, canonical codes, the bitstream and its file."""
import numpy as np
import pytest

from companion.formats import huffman

# The textbook example (Cormen et al., Introduction to Algorithms, §16.3): frequencies in thousands
FREQS = {0: 45, 1: 13, 2: 12, 3: 16, 4: 9, 5: 5}


def test_code_lengths_by_hand():
    # merges: 5+9=14, 12+13=25, 14+16=30, 25+30=55, 45+55=100 -> depths 1,3,3,3,4,4
    assert huffman.code_lengths(FREQS) == {0: 1, 1: 3, 2: 3, 3: 3, 4: 4, 5: 4}


def test_canonical_codes_by_hand():
    codes = huffman.canonical_codes(huffman.code_lengths(FREQS))
    assert codes == {0: (0b0, 1), 1: (0b100, 3), 2: (0b101, 3), 3: (0b110, 3), 4: (0b1110, 4), 5: (0b1111, 4)}


def test_kraft_equality_and_prefix_free():
    rng = np.random.default_rng(0)
    freqs = dict(enumerate(rng.integers(1, 1000, 40).tolist()))
    lengths = huffman.code_lengths(freqs)
    assert sum(2.0 ** -n for n in lengths.values()) == pytest.approx(1.0)  # a complete prefix code
    words = [format(c, f"0{n}b") for c, n in huffman.canonical_codes(lengths).values()]
    assert not any(a != b and b.startswith(a) for a in words for b in words)


def test_stream_bytes_by_hand():
    symbols = np.repeat(list(FREQS), list(FREQS.values()))  # 100 symbols
    data = huffman.encode(symbols)
    payload_bits = 45 * 1 + (13 + 12 + 16) * 3 + (9 + 5) * 4  # 224 bits = 28 bytes
    assert len(data) == 2 + 4 + 4 + 6 + payload_bits // 8  # magic, count, alphabet size, lengths, payload
    assert huffman.mean_code_length(symbols) == pytest.approx(2.24)
    assert huffman.entropy_bits(symbols) <= 2.24 < huffman.entropy_bits(symbols) + 1


@pytest.mark.parametrize("symbols", [
    np.random.default_rng(1).geometric(0.3, 5000) - 1,
    np.random.default_rng(2).integers(0, 32, 777),
    np.array([7, 7, 7]),
    np.array([0, 65535]),
    np.array([], dtype=np.int64),
])
def test_round_trip_is_bit_exact(symbols, tmp_path):
    path = huffman.write(tmp_path / "s.huf", symbols)
    decoded = huffman.read(path)
    assert decoded.dtype == np.int64 and np.array_equal(decoded, symbols)


def test_skewed_symbols_compress_below_fixed_width():
    symbols = np.random.default_rng(3).geometric(0.5, 10000) - 1  # mostly 0s and 1s
    fixed = len(symbols) * int(np.ceil(np.log2(symbols.max() + 1))) / 8
    payload = len(huffman.encode(symbols)) - 10 - (symbols.max() + 1)
    assert payload < 0.6 * fixed
    assert huffman.entropy_bits(symbols) <= 8 * payload / len(symbols) < huffman.entropy_bits(symbols) + 1


def test_bad_input_raises():
    with pytest.raises(ValueError, match="integers in"):
        huffman.encode(np.array([-1, 2]))
    with pytest.raises(ValueError, match="integers in"):
        huffman.encode(np.array([0.5]))
    with pytest.raises(ValueError, match="bad magic"):
        huffman.decode(b"XX\x00\x00")
    data = huffman.encode(np.arange(10))
    with pytest.raises(ValueError, match="corrupt"):
        huffman.decode(data[:-2])
