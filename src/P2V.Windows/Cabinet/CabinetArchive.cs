using System.Buffers.Binary;

namespace P2V.Windows.Cabinet;

/// <summary>
/// A Microsoft cabinet (.cab, [MS-CAB]) such as an installation's driver.cab or spN.cab: its file list, and
/// extraction of uncompressed and MSZIP folders. LZX and Quantum folders are refused by name. The cabinet is read
/// from a seekable stream; only one folder's 32 KiB window and the extracted file are held in memory.
/// </summary>
public sealed class CabinetArchive : IDisposable
{
    /// <summary>The largest file extracted into memory.</summary>
    public const long MaxFileBytes = 512L << 20;
    private readonly Stream _stream;
    private readonly bool _ownsStream;
    private readonly CabinetHeader _header;
    private readonly List<CabinetFolder> _folders = [];

    public string Name { get; }
    public IReadOnlyList<CabinetFile> Files { get; }

    private CabinetArchive(Stream stream, string name, bool ownsStream)
    {
        _stream = stream;
        _ownsStream = ownsStream;
        Name = name;
        var head = new byte[Math.Min(stream.Length, 64 * 1024)];
        stream.Position = 0;
        stream.ReadExactly(head);
        _header = CabinetHeader.Parse(head, name);
        int folderLength = CabinetFolder.FixedLength + _header.FolderReserve;
        var folders = ReadAt(_header.Length, _header.FolderCount * folderLength, "CFFOLDER entries");
        for (int i = 0; i < _header.FolderCount; i++) _folders.Add(CabinetFolder.Parse(folders.AsSpan(i * folderLength)));
        var files = new List<CabinetFile>(_header.FileCount);
        long at = _header.FirstFileOffset;
        var buffer = ReadAt(at, (int)Math.Min(stream.Length - Math.Min(at, stream.Length), _header.FileCount * (16 + 1025L)), "CFFILE entries");
        int pos = 0;
        for (int i = 0; i < _header.FileCount; i++)
        {
            var f = CabinetFile.Parse(buffer.AsSpan(pos), name, at + pos, out int length);
            if (!f.SpansCabinets && f.FolderIndex >= _folders.Count)
                throw new CabinetException(name, at + pos, $"file '{f.Name}' is in folder {f.FolderIndex}, the cabinet has {_folders.Count}");
            files.Add(f);
            pos += length;
        }
        Files = files;
    }

    public static CabinetArchive Open(string path) =>
        new(File.OpenRead(path), Path.GetFileName(path), ownsStream: true);

    public static CabinetArchive Open(Stream stream, string name) => new(stream, name, ownsStream: false);

    public CabinetCompression FolderCompression(CabinetFile file) => _folders[file.FolderIndex].Compression;

    /// <summary>The file named <paramref name="name"/> (case-insensitive; the name inside the cabinet, with any folder path), or null.</summary>
    public CabinetFile? Find(string name) =>
        Files.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? Files.FirstOrDefault(f => string.Equals(Path.GetFileName(f.Name.Replace('\\', '/')), name, StringComparison.OrdinalIgnoreCase));

    public byte[] Extract(string name) =>
        Extract(Find(name) ?? throw new FileNotFoundException($"'{name}' is not in cabinet '{Name}'", name));

    /// <summary>Decodes the file's folder from its start up to the end of the file and returns the file's bytes.</summary>
    public byte[] Extract(CabinetFile file)
    {
        if (file.SpansCabinets) throw new NotSupportedException($"'{file.Name}' in cabinet '{Name}' continues into another cabinet of a set; multi-cabinet sets are not supported");
        if (file.Size > MaxFileBytes) throw new CabinetException(Name, 0, $"'{file.Name}' is {file.Size} bytes, over the {MaxFileBytes}-byte limit");
        var folder = _folders[file.FolderIndex];
        if (folder.Compression is CabinetCompression.Lzx or CabinetCompression.Quantum)
            throw new NotSupportedException($"'{file.Name}' in cabinet '{Name}' is {folder.Compression}-compressed; only uncompressed and MSZIP folders can be extracted");
        if (folder.Compression is not (CabinetCompression.None or CabinetCompression.MsZip))
            throw new CabinetException(Name, 0, $"folder {file.FolderIndex} has unknown compression type {folder.TypeCompress & 0xF}");

        var result = new byte[file.Size];
        long start = file.FolderOffset, end = file.FolderOffset + (long)file.Size;
        long folderPos = 0;
        var decoder = folder.Compression == CabinetCompression.MsZip ? new MsZipDecoder() : null;
        var output = new byte[CabinetDataBlock.MaxUncompressed];
        long at = folder.FirstDataOffset;
        for (int block = 0; block < folder.DataBlockCount && folderPos < end; block++)
        {
            var head = ReadAt(at, CabinetDataBlock.FixedLength + _header.DataReserve, "CFDATA header");
            var d = CabinetDataBlock.Parse(head);
            if (d.UncompressedSize > CabinetDataBlock.MaxUncompressed || (decoder is null && d.CompressedSize != d.UncompressedSize))
                throw new CabinetException(Name, at, $"CFDATA sizes {d.CompressedSize}/{d.UncompressedSize} are invalid");
            var data = ReadAt(at + head.Length, d.CompressedSize, "CFDATA data");
            if (d.Checksum != 0)
            {
                uint sum = CabinetDataBlock.Compute(head.AsSpan(4), CabinetDataBlock.Compute(data, 0));
                if (sum != d.Checksum) throw new CabinetException(Name, at, $"CFDATA checksum 0x{sum:X8}, stored 0x{d.Checksum:X8}");
            }
            var plain = output.AsSpan(0, d.UncompressedSize);
            if (decoder is null) data.CopyTo(plain);
            else
            {
                try { decoder.DecodeBlock(data, plain); }
                catch (InvalidDataException e) { throw new CabinetException(Name, at, $"MSZIP block {block} of folder {file.FolderIndex}: {e.Message}"); }
            }
            long blockEnd = folderPos + plain.Length;
            long from = Math.Max(start, folderPos), to = Math.Min(end, blockEnd);
            if (to > from) plain.Slice((int)(from - folderPos), (int)(to - from)).CopyTo(result.AsSpan((int)(from - start)));
            folderPos = blockEnd;
            at += head.Length + d.CompressedSize;
        }
        if (folderPos < end) throw new CabinetException(Name, at, $"folder {file.FolderIndex} ends at {folderPos} bytes, before '{file.Name}' ends at {end}");
        return result;
    }

    private byte[] ReadAt(long offset, int length, string what)
    {
        if (length < 0 || offset < 0 || offset + length > _stream.Length)
            throw new CabinetException(Name, offset, $"{what} of {length} bytes run past the end of the {_stream.Length}-byte cabinet");
        var b = new byte[length];
        _stream.Position = offset;
        _stream.ReadExactly(b);
        return b;
    }

    public void Dispose()
    {
        if (_ownsStream) _stream.Dispose();
    }
}
