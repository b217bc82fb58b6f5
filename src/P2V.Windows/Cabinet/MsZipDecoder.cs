namespace P2V.Windows.Cabinet;

/// <summary>
/// MSZIP ([MS-MCI] "Microsoft ZIP (MSZIP) Data Compression Format"): each CFDATA block is "CK" followed by a
/// complete DEFLATE stream (RFC 1951) of at most 32 KiB of output, and back-references may reach into the
/// previous blocks' output — the 32 KiB window carries across blocks, which is why DeflateStream (no preset
/// dictionary) cannot be used and this small inflater exists.
/// </summary>
internal sealed class MsZipDecoder
{
    private const int WindowSize = 32768;
    private readonly byte[] _window = new byte[WindowSize];
    private int _windowPos;
    private long _produced;

    // RFC 1951 § 3.2.5: length and distance bases and extra bits.
    private static readonly ushort[] LengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
    private static readonly byte[] LengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
    private static readonly ushort[] DistanceBase = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
    private static readonly byte[] DistanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
    // RFC 1951 § 3.2.7: the order code length code lengths are sent in.
    private static readonly byte[] CodeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
    private static readonly Huffman FixedLiterals, FixedDistances;

    static MsZipDecoder()
    {
        var lengths = new byte[288];
        for (int i = 0; i < 288; i++) lengths[i] = (byte)(i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8);
        FixedLiterals = Huffman.Build(lengths, out _);
        var d = new byte[30];
        Array.Fill(d, (byte)5);
        FixedDistances = Huffman.Build(d, out _);
    }

    /// <summary>Decodes one MSZIP block into exactly <paramref name="output"/>.Length bytes; throws InvalidDataException on bad data.</summary>
    public void DecodeBlock(ReadOnlySpan<byte> input, Span<byte> output)
    {
        if (input.Length < 2 || input[0] != 'C' || input[1] != 'K') throw new InvalidDataException("MSZIP block does not start with 'CK'");
        var bits = new BitReader(input[2..]);
        int pos = 0;
        bool last;
        do
        {
            last = bits.Read(1) == 1;
            switch (bits.Read(2))
            {
                case 0:
                    bits.AlignToByte();
                    int len = bits.Read(16), nlen = bits.Read(16);
                    if ((len ^ 0xFFFF) != nlen) throw new InvalidDataException("stored block length and its complement disagree");
                    for (int i = 0; i < len; i++) Emit(output, ref pos, (byte)bits.Read(8));
                    break;
                case 1:
                    Codes(ref bits, output, ref pos, FixedLiterals, FixedDistances);
                    break;
                case 2:
                    var (lit, dist) = DynamicTables(ref bits);
                    Codes(ref bits, output, ref pos, lit, dist);
                    break;
                default:
                    throw new InvalidDataException("reserved DEFLATE block type 3");
            }
        } while (!last);
        if (pos != output.Length) throw new InvalidDataException($"block inflated to {pos} bytes, CFDATA says {output.Length}");
    }

    private void Emit(Span<byte> output, ref int pos, byte b)
    {
        if (pos >= output.Length) throw new InvalidDataException($"block inflates past the {output.Length} bytes CFDATA gives");
        output[pos++] = b;
        _window[_windowPos] = b;
        _windowPos = (_windowPos + 1) & (WindowSize - 1);
        _produced++;
    }

    private void Codes(ref BitReader bits, Span<byte> output, ref int pos, Huffman literals, Huffman distances)
    {
        while (true)
        {
            int symbol = literals.Decode(ref bits);
            if (symbol < 256) { Emit(output, ref pos, (byte)symbol); continue; }
            if (symbol == 256) return;
            symbol -= 257;
            if (symbol >= LengthBase.Length) throw new InvalidDataException($"length code {symbol + 257} is invalid");
            int length = LengthBase[symbol] + bits.Read(LengthExtra[symbol]);
            int d = distances.Decode(ref bits);
            if (d >= DistanceBase.Length) throw new InvalidDataException($"distance code {d} is invalid");
            int distance = DistanceBase[d] + bits.Read(DistanceExtra[d]);
            if (distance > _produced || distance > WindowSize) throw new InvalidDataException($"distance {distance} reaches before the start of the folder's data");
            for (int i = 0; i < length; i++) Emit(output, ref pos, _window[(_windowPos - distance) & (WindowSize - 1)]);
        }
    }

    private static (Huffman, Huffman) DynamicTables(ref BitReader bits)
    {
        int nlen = bits.Read(5) + 257, ndist = bits.Read(5) + 1, ncode = bits.Read(4) + 4;
        if (nlen > 286 || ndist > 30) throw new InvalidDataException("too many length or distance codes");
        var codeLengths = new byte[19];
        for (int i = 0; i < ncode; i++) codeLengths[CodeLengthOrder[i]] = (byte)bits.Read(3);
        var lencode = Huffman.Build(codeLengths, out bool complete);
        if (!complete) throw new InvalidDataException("incomplete code length code");
        var lengths = new byte[nlen + ndist];
        for (int i = 0; i < lengths.Length;)
        {
            int symbol = lencode.Decode(ref bits);
            if (symbol < 16) { lengths[i++] = (byte)symbol; continue; }
            byte value = 0;
            int repeat;
            if (symbol == 16)
            {
                if (i == 0) throw new InvalidDataException("repeat with no previous length");
                value = lengths[i - 1];
                repeat = 3 + bits.Read(2);
            }
            else repeat = symbol == 17 ? 3 + bits.Read(3) : 11 + bits.Read(7);
            if (i + repeat > lengths.Length) throw new InvalidDataException("code lengths repeat past the end");
            for (int r = 0; r < repeat; r++) lengths[i++] = value;
        }
        if (lengths[256] == 0) throw new InvalidDataException("no end-of-block code");
        var lit = Huffman.Build(lengths.AsSpan(0, nlen), out bool litComplete);
        if (!litComplete && nlen - lengths.AsSpan(0, nlen).Count((byte)0) != 1) throw new InvalidDataException("incomplete literal/length code");
        var dist = Huffman.Build(lengths.AsSpan(nlen, ndist), out _); // one distance code (or none) is allowed to be incomplete
        return (lit, dist);
    }

    /// <summary>LSB-first bit reader (RFC 1951 § 3.1.1).</summary>
    internal ref struct BitReader(ReadOnlySpan<byte> data)
    {
        private readonly ReadOnlySpan<byte> _data = data;
        private int _pos;
        private uint _bits;
        private int _count;

        public int Read(int n)
        {
            while (_count < n)
            {
                if (_pos >= _data.Length) throw new InvalidDataException("compressed data ends early");
                _bits |= (uint)_data[_pos++] << _count;
                _count += 8;
            }
            int value = (int)(_bits & ((1u << n) - 1));
            _bits >>= n;
            _count -= n;
            return value;
        }

        public void AlignToByte()
        {
            _bits = 0;
            _count = 0;
        }

        /// <summary>The next <paramref name="n"/> bits without consuming them, zero-padded at the end of the data; also how many are real.</summary>
        public int Peek(int n, out int available)
        {
            while (_count < n && _pos < _data.Length)
            {
                _bits |= (uint)_data[_pos++] << _count;
                _count += 8;
            }
            available = _count;
            return (int)(_bits & ((1u << n) - 1));
        }

        public void Skip(int n)
        {
            _bits >>= n;
            _count -= n;
        }
    }

    /// <summary>A canonical Huffman code (RFC 1951 § 3.2.2): counts per length and symbols in code order, decoded bit by bit.</summary>
    internal sealed class Huffman
    {
        private const int MaxBits = 15;
        /// <summary>Codes up to this long decode with one table lookup; longer ones bit by bit.</summary>
        private const int FastBits = 9;
        private readonly short[] _count = new short[MaxBits + 1];
        private readonly short[] _symbol;
        private readonly int[] _fast = new int[1 << FastBits]; // (symbol << 4) | length, 0 = not in the table

        private Huffman(int n) => _symbol = new short[n];

        public static Huffman Build(ReadOnlySpan<byte> lengths, out bool complete)
        {
            var h = new Huffman(lengths.Length);
            foreach (var l in lengths) h._count[l]++;
            int left = 1;
            for (int len = 1; len <= MaxBits; len++)
            {
                left = (left << 1) - h._count[len];
                if (left < 0) throw new InvalidDataException("over-subscribed Huffman code");
            }
            complete = left == 0;
            var offs = new short[MaxBits + 2];
            for (int len = 1; len <= MaxBits; len++) offs[len + 1] = (short)(offs[len] + h._count[len]);
            for (int s = 0; s < lengths.Length; s++)
                if (lengths[s] != 0) h._symbol[offs[lengths[s]]++] = (short)s;
            // Canonical codes (RFC 1951 § 3.2.2); the stream sends them most significant bit first, the reader
            // takes bits least significant first, so the table is indexed by the reversed code.
            var next = new int[MaxBits + 2];
            for (int len = 1, code = 0; len <= MaxBits; len++)
            {
                code = (code + (len == 1 ? 0 : h._count[len - 1])) << 1;
                next[len] = code;
            }
            for (int s = 0; s < lengths.Length; s++)
            {
                int len = lengths[s];
                if (len == 0) continue;
                int code = next[len]++;
                if (len > FastBits) continue;
                int reversed = 0;
                for (int i = 0; i < len; i++) reversed |= ((code >> i) & 1) << (len - 1 - i);
                for (int i = reversed; i < 1 << FastBits; i += 1 << len) h._fast[i] = (s << 4) | len;
            }
            return h;
        }

        public int Decode(ref BitReader bits)
        {
            int peeked = bits.Peek(FastBits, out int available);
            int entry = _fast[peeked];
            if (entry != 0 && (entry & 15) <= available)
            {
                bits.Skip(entry & 15);
                return entry >> 4;
            }
            return DecodeSlow(ref bits);
        }

        private int DecodeSlow(ref BitReader bits)
        {
            int code = 0, first = 0, index = 0;
            for (int len = 1; len <= MaxBits; len++)
            {
                code |= bits.Read(1);
                int count = _count[len];
                if (code - count < first) return _symbol[index + (code - first)];
                index += count;
                first = (first + count) << 1;
                code <<= 1;
            }
            throw new InvalidDataException("invalid Huffman code");
        }
    }
}
