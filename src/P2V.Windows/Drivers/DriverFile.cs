namespace P2V.Windows.Drivers;

/// <summary>A file an install section copies: from the package folder to a path under the system root ("system32\drivers\viostor.sys").</summary>
public sealed record DriverFile(string SourcePath, string Destination);
