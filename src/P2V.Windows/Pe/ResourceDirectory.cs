using System.Buffers.Binary;

namespace P2V.Windows.Pe;

/// <summary>
/// The resource tree of .rsrc (PE/COFF specification § The .rsrc Section): three levels — type, name, language —
/// of IMAGE_RESOURCE_DIRECTORY tables, ending in IMAGE_RESOURCE_DATA_ENTRY records that give an RVA and size.
/// </summary>
internal static class ResourceDirectory
{
    public const uint RtVersion = 16;
    private const uint SubdirectoryFlag = 0x80000000;

    /// <summary>The first resource of <paramref name="type"/> (first name, first language), or null.</summary>
    public static byte[]? Find(PeImage image, uint type)
    {
        if (image.ResourceRva == 0 || image.ResourceSize < 16) return null;
        var rsrc = image.AtRva(image.ResourceRva, image.ResourceSize, "resource directory");
        uint node = 0;
        for (int level = 0; level < 3; level++)
        {
            var entry = FindEntry(image, rsrc, node, level == 0 ? type : null);
            if (entry is null) return null;
            uint target = entry.Value;
            bool isDirectory = (target & SubdirectoryFlag) != 0;
            if (level < 2 != isDirectory)
                throw new PeFormatException(image.FileName, 0, $"resource tree level {level + 1} entry is {(isDirectory ? "a directory" : "data")}, expected {(level < 2 ? "a directory" : "data")}");
            node = target & ~SubdirectoryFlag;
            if (level == 2)
            {
                if (node + 16L > rsrc.Length) throw new PeFormatException(image.FileName, 0, "resource data entry runs past the resource section");
                uint rva = BinaryPrimitives.ReadUInt32LittleEndian(rsrc[(int)node..]);
                uint size = BinaryPrimitives.ReadUInt32LittleEndian(rsrc[((int)node + 4)..]);
                if (size > 16 << 20) throw new PeFormatException(image.FileName, 0, $"version resource of {size} bytes is implausibly large");
                return image.AtRva(rva, size, "version resource").ToArray();
            }
        }
        return null;
    }

    /// <summary>An entry of the table at <paramref name="node"/>: the one with ID <paramref name="id"/>, or the first.</summary>
    private static uint? FindEntry(PeImage image, ReadOnlySpan<byte> rsrc, uint node, uint? id)
    {
        if (node + 16L > rsrc.Length) throw new PeFormatException(image.FileName, 0, $"resource directory at 0x{node:X} runs past the resource section");
        int named = BinaryPrimitives.ReadUInt16LittleEndian(rsrc[((int)node + 12)..]);
        int ids = BinaryPrimitives.ReadUInt16LittleEndian(rsrc[((int)node + 14)..]);
        int count = named + ids;
        if (node + 16L + count * 8L > rsrc.Length) throw new PeFormatException(image.FileName, 0, $"resource directory at 0x{node:X} has {count} entries past the resource section");
        for (int i = 0; i < count; i++)
        {
            var e = rsrc[((int)node + 16 + i * 8)..];
            uint name = BinaryPrimitives.ReadUInt32LittleEndian(e);
            if (id is null || (i >= named && name == id)) return BinaryPrimitives.ReadUInt32LittleEndian(e[4..]);
        }
        return null;
    }
}
