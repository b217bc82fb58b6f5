namespace P2V.Agent.Tests;

/// <summary>The p2v built beside these tests, as one command a script or a process start can run.</summary>
public static class P2vCommand
{
    private static readonly Lazy<string> Wrapper = new(() =>
    {
        string path = System.IO.Path.Combine(AppContext.BaseDirectory, "p2v-under-test");
        File.WriteAllText(path, $"#!/bin/sh\nexec dotnet {System.IO.Path.Combine(AppContext.BaseDirectory, "p2v.dll")} \"$@\"\n");
        ExternalTool.Run("chmod", "755", path);
        return path;
    });

    public static string Executable => Wrapper.Value;
}
