namespace P2V.Cli.Commands;

/// <summary>capture, restore, image info, image verify.</summary>
public static class ImagingCommands
{
    public static void Register(CommandTable table)
    {
    }
}
