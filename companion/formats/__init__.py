"""Bit-level file formats shared by sections: the two bit packers, relative indices, Huffman streams."""
from . import bits, huffman, relative
from .bits import WORD, n_words, pack_bits_lsb64, pack_ints_msb, unpack_bits_lsb64, unpack_ints_msb
from .relative import decode_relative, default_index_bits, encode_relative, relative_size_bytes

__all__ = ["bits", "huffman", "relative", "WORD", "n_words", "pack_bits_lsb64", "pack_ints_msb",
           "unpack_bits_lsb64", "unpack_ints_msb", "decode_relative", "default_index_bits", "encode_relative",
           "relative_size_bytes"]
