namespace P2V.Imaging.VirtualDisks.Vhdx;

/// <summary>Payload and sector bitmap block states (MS-VHDX 2.5.1.1, 2.5.1.2).</summary>
public enum VhdxBlockState : byte
{
    NotPresent = 0,
    Undefined = 1,
    Zero = 2,
    Unmapped = 3,
    FullyPresent = 6,
    PartiallyPresent = 7,
}

/// <summary>
/// A 64-bit BAT entry (MS-VHDX 2.5.1): the state in bits 0–2, and the block's file offset in MiB in bits 20–63.
/// The BAT interleaves one sector bitmap entry after every "chunk ratio" payload entries (2.5).
/// </summary>
public readonly record struct VhdxBatEntry(VhdxBlockState State, long FileOffset)
{
    /// <summary>SB_BLOCK_PRESENT (2.5.1.2): a sector bitmap entry's "present" state, the same value 6 as a payload's FullyPresent.</summary>
    public const VhdxBlockState SectorBitmapPresent = VhdxBlockState.FullyPresent;

    public static VhdxBatEntry Parse(ulong raw) => new((VhdxBlockState)(raw & 7), (long)(raw >> 20) << 20);

    public ulong Raw => ((ulong)FileOffset >> 20 << 20) | (ulong)State;

    /// <summary>Whether the state is one the spec defines for a payload block.</summary>
    public bool IsValidPayloadState => State is VhdxBlockState.NotPresent or VhdxBlockState.Undefined or VhdxBlockState.Zero
        or VhdxBlockState.Unmapped or VhdxBlockState.FullyPresent or VhdxBlockState.PartiallyPresent;

    public bool HasData => State is VhdxBlockState.FullyPresent or VhdxBlockState.PartiallyPresent;
}
