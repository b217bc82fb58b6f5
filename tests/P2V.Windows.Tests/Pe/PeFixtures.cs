namespace P2V.Windows.Tests.Pe;

/// <summary>Stand-ins for hal.dll / ntoskrnl.exe variants: real PE files built by mingw-w64 with a VERSIONINFO resource.</summary>
public static class PeFixtures
{
    public static string Rc(string originalFilename, string fileVersion, string product = "Microsoft(R) Windows(R) Operating System")
    {
        var commas = fileVersion.Replace('.', ',');
        return $$"""
            1 VERSIONINFO
            FILEVERSION {{commas}}
            PRODUCTVERSION {{commas}}
            FILEOS 0x40004
            FILETYPE 0x2
            BEGIN
              BLOCK "StringFileInfo"
              BEGIN
                BLOCK "040904B0"
                BEGIN
                  VALUE "CompanyName", "Microsoft Corporation"
                  VALUE "FileDescription", "Stand-in built by the P2V tests"
                  VALUE "FileVersion", "{{fileVersion}} (srv03_sp2_rtm.070216-1710)"
                  VALUE "InternalName", "{{originalFilename}}"
                  VALUE "OriginalFilename", "{{originalFilename}}"
                  VALUE "ProductName", "{{product}}"
                  VALUE "ProductVersion", "{{fileVersion}}"
                END
              END
              BLOCK "VarFileInfo"
              BEGIN
                VALUE "Translation", 0x409, 1200
              END
            END
            """;
    }

    /// <summary>
    /// A PE file named <paramref name="output"/> in <paramref name="dir"/>: PE32 built by i686-w64-mingw32-gcc
    /// (a DLL, or an EXE when the name ends in .exe), or a resource-only PE32+ DLL linked by x86_64-w64-mingw32-ld.
    /// </summary>
    public static string Build(string dir, string output, string originalFilename, string fileVersion, bool pe32Plus = false)
    {
        var work = Path.Combine(dir, "pe-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(work);
        var rc = Path.Combine(work, "v.rc");
        File.WriteAllText(rc, Rc(originalFilename, fileVersion));
        var res = Path.Combine(work, "v.res");
        ExternalTool.Run("i686-w64-mingw32-windres", "-O", "res", rc, res);
        var target = Path.Combine(dir, output);
        if (pe32Plus)
        {
            var obj = Path.Combine(work, "v64.o");
            ExternalTool.Run("x86_64-w64-mingw32-windres", "-J", "res", "-i", res, "-O", "coff", "-o", obj);
            ExternalTool.Run("x86_64-w64-mingw32-ld", "--dll", "-e", "0", "-o", target, obj);
        }
        else
        {
            var obj = Path.Combine(work, "v32.o");
            ExternalTool.Run("i686-w64-mingw32-windres", "-J", "res", "-i", res, "-O", "coff", "-o", obj);
            var c = Path.Combine(work, "s.c");
            bool exe = output.EndsWith(".exe", StringComparison.OrdinalIgnoreCase);
            File.WriteAllText(c, exe ? "int main(void){return 0;}\n" : "int Stub(void){return 0;}\n");
            if (exe) ExternalTool.Run("i686-w64-mingw32-gcc", "-s", "-o", target, c, obj);
            else ExternalTool.Run("i686-w64-mingw32-gcc", "-s", "-shared", "-o", target, c, obj);
        }
        Directory.Delete(work, true);
        return target;
    }
}
