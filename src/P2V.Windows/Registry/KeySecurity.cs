using System.Buffers.Binary;

namespace P2V.Windows.Registry;

/// <summary>
/// A key security cell, "sk" (spec § Cell › Key security): a reference-counted self-relative security descriptor,
/// linked with every other sk cell of the hive in a circular doubly linked list (Flink/Blink).
/// </summary>
internal sealed class KeySecurity
{
    public const int FixedLength = 20;

    public uint Flink { get; set; }
    public uint Blink { get; set; }
    public uint ReferenceCount { get; set; }
    public byte[] Descriptor { get; set; } = [];

    public static KeySecurity Parse(ReadOnlySpan<byte> cell, string hive, uint offset)
    {
        if (cell.Length < FixedLength || !cell[..2].SequenceEqual("sk"u8))
            throw new RegistryHiveException(hive, offset, "expected a key security cell ('sk')");
        int size = (int)Math.Min(BinaryPrimitives.ReadUInt32LittleEndian(cell[16..]), int.MaxValue);
        if (FixedLength + (long)size > cell.Length)
            throw new RegistryHiveException(hive, offset, $"security descriptor of {size} bytes runs past its {cell.Length}-byte cell");
        return new KeySecurity
        {
            Flink = BinaryPrimitives.ReadUInt32LittleEndian(cell[4..]),
            Blink = BinaryPrimitives.ReadUInt32LittleEndian(cell[8..]),
            ReferenceCount = BinaryPrimitives.ReadUInt32LittleEndian(cell[12..]),
            Descriptor = cell.Slice(FixedLength, size).ToArray(),
        };
    }

    public int Length => FixedLength + Descriptor.Length;

    public void Write(Span<byte> cell)
    {
        "sk"u8.CopyTo(cell);
        BinaryPrimitives.WriteUInt16LittleEndian(cell[2..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[4..], Flink);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[8..], Blink);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[12..], ReferenceCount);
        BinaryPrimitives.WriteUInt32LittleEndian(cell[16..], (uint)Descriptor.Length);
        Descriptor.CopyTo(cell[FixedLength..]);
    }

    /// <summary>
    /// The descriptor a new hive's root gets: owner Administrators, group SYSTEM, a DACL giving SYSTEM and
    /// Administrators full control and Everyone read, inherited by subkeys (container-inherit) — the shape of
    /// Windows' own SYSTEM hive root.
    /// </summary>
    public static byte[] DefaultDescriptor()
    {
        byte[] system = [1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0];                      // S-1-5-18
        byte[] admins = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0];        // S-1-5-32-544
        byte[] everyone = [1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];                      // S-1-1-0
        var aces = new List<byte>();
        void Ace(uint mask, byte[] sid)
        {
            int size = 8 + sid.Length;
            aces.AddRange([0 /* ACCESS_ALLOWED */, 0x02 /* CONTAINER_INHERIT */, (byte)size, (byte)(size >> 8)]);
            aces.AddRange(BitConverter.GetBytes(mask));
            aces.AddRange(sid);
        }
        Ace(0x000F003F, system);   // KEY_ALL_ACCESS
        Ace(0x000F003F, admins);
        Ace(0x00020019, everyone); // KEY_READ
        int aclSize = 8 + aces.Count;
        var sd = new byte[20 + admins.Length + system.Length + aclSize];
        sd[0] = 1;                                                             // revision
        BinaryPrimitives.WriteUInt16LittleEndian(sd.AsSpan(2), 0x8004);          // SE_SELF_RELATIVE | SE_DACL_PRESENT
        int owner = 20, group = owner + admins.Length, dacl = group + system.Length;
        BinaryPrimitives.WriteUInt32LittleEndian(sd.AsSpan(4), (uint)owner);
        BinaryPrimitives.WriteUInt32LittleEndian(sd.AsSpan(8), (uint)group);
        BinaryPrimitives.WriteUInt32LittleEndian(sd.AsSpan(16), (uint)dacl);
        admins.CopyTo(sd, owner);
        system.CopyTo(sd, group);
        sd[dacl] = 2;                                                          // ACL revision
        BinaryPrimitives.WriteUInt16LittleEndian(sd.AsSpan(dacl + 2), (ushort)aclSize);
        BinaryPrimitives.WriteUInt16LittleEndian(sd.AsSpan(dacl + 4), 3);
        aces.ToArray().CopyTo(sd, dacl + 8);
        return sd;
    }
}
