namespace P2V.Imaging.Disks;

/// <summary>How a disk is partitioned: not at all (a bare volume or an empty disk), MBR, or GPT.</summary>
public enum PartitionTableKind
{
    None,
    Mbr,
    Gpt,
}
