namespace P2V.Imaging.Disks;

/// <summary>
/// One partition as the capture pipeline sees it. <paramref name="Offset"/> and <paramref name="Length"/> are in
/// bytes from the start of the disk. <paramref name="Number"/> is the one Linux gives it (sdaN): an MBR primary
/// by its slot 1–4, MBR logicals from 5 in chain order, GPT entries by array index + 1.
/// For MBR, <paramref name="GptType"/>/<paramref name="GptId"/> are empty and <paramref name="Name"/> is "";
/// for GPT, <paramref name="MbrType"/> is 0 and <paramref name="Bootable"/> is the legacy-BIOS-bootable attribute.
/// </summary>
public sealed record PartitionEntry(
    int Number,
    long Offset,
    long Length,
    byte MbrType,
    Guid GptType,
    Guid GptId,
    string Name,
    bool Bootable,
    bool IsLogical)
{
    public long End => Offset + Length;

    public Extent Extent => new(Offset, Length);
}
