using P2V.Windows.Drivers;

namespace P2V.Windows.Tests.Drivers;

/// <summary>The INF reader on the syntax of "General Syntax Rules for INF Files": what parses, and the one-line errors for what does not.</summary>
public sealed class InfFileTests
{
    [Fact]
    public void SectionsEntriesQuotesCommentsContinuationAndStrings()
    {
        var inf = InfFile.Parse("""
            ; a comment before any section
            [Version]
            Signature = "$Windows NT$"   ; trailing comment
            Provider=%Mfg%
            [models]
            %Desc% = inst, PCI\VEN_1AF4&DEV_1001, \
                 PCI\VEN_1AF4&DEV_1042 ; second id on a continued line
            [files]
            viostor.sys,,,2
            [reg]
            HKR,,EventMessageFile,0x00020000,"%%SystemRoot%%\System32\IoLogMsg.dll"
            HKR,,Quote,,"say ""hi""; not a comment"
            [MODELS]
            later = other, id3
            [Strings]
            Mfg = "Red Hat, Inc."
            Desc="VirtIO; SCSI"
            """, "t.inf");
        Assert.Equal("$Windows NT$", inf.Get("version", "SIGNATURE"));
        Assert.Equal("Red Hat, Inc.", inf.Get("Version", "Provider"));
        var models = inf.Section("Models");
        Assert.Equal(2, models.Count); // [models] and [MODELS] are one section
        Assert.Equal("VirtIO; SCSI", models[0].Key);
        Assert.Equal(["inst", @"PCI\VEN_1AF4&DEV_1001", @"PCI\VEN_1AF4&DEV_1042"], models[0].Values);
        Assert.Equal(6, models[0].Line);
        Assert.Equal(14, models[1].Line);
        var file = Assert.Single(inf.Section("files"));
        Assert.Null(file.Key);
        Assert.Equal(["viostor.sys", "", "", "2"], file.Values);
        var reg = inf.Section("reg");
        Assert.Equal(@"%SystemRoot%\System32\IoLogMsg.dll", reg[0].Value(4));
        Assert.Equal("say \"hi\"; not a comment", reg[1].Value(4));
    }

    [Fact]
    public void DirIdsAreKeptForTheDirectiveThatReadsThem()
    {
        var inf = InfFile.Parse("[svc]\nServiceBinary = %12%\\viostor.sys\n", "t.inf");
        Assert.Equal(@"%12%\viostor.sys", inf.Get("svc", "ServiceBinary"));
    }

    [Theory]
    [InlineData("[Version]\nSignature=\"$Windows NT$\n", 2, "a quoted string that is not closed")]
    [InlineData("[Version\nSignature=x\n", 1, "closing ']'")]
    [InlineData("Signature=x\n[Version]\n", 1, "before the first [section]")]
    [InlineData("[Version]\nProvider=%Nobody%\n[Strings]\nX=1\n", 2, "%Nobody% is not defined in [Strings]")]
    [InlineData("[Version]\n\n\nProvider=\"a\"b\n", 4, "text after a closing quote")]
    [InlineData("[Version]\n = x\n", 2, "nothing before '='")]
    [InlineData("[Strings]\njustaword\n", 2, "needs a key")]
    public void ALineThatDoesNotParseNamesTheFileAndLine(string text, int line, string what)
    {
        var e = Assert.Throws<InfFormatException>(() => InfFile.Parse(text, "drivers/bad.inf"));
        Assert.Equal(line, e.Line);
        Assert.StartsWith($"drivers/bad.inf, line {line}: ", e.Message);
        Assert.Contains(what, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Theory]
    [InlineData("NTx86", "x86", null, null)]
    [InlineData("NTamd64.6.1", "amd64", 6, 1)]
    [InlineData("NT.5.1", null, 5, 1)]
    [InlineData("ntX86.5.2", "x86", 5, 2)]
    public void TargetOsVersionDecorations(string text, string? arch, int? major, int? minor)
    {
        var d = TargetOsVersion.Parse(text)!;
        Assert.Equal((arch, major, minor), (d.Architecture, d.Major, d.Minor));
    }

    [Fact]
    public void DecorationsAllowTheirVersionAndLaterOnTheirArchitecture()
    {
        Assert.True(TargetOsVersion.Parse("NTx86.5.1")!.Allows("x86", 5, 2, server: true));
        Assert.False(TargetOsVersion.Parse("NTx86.5.2")!.Allows("x86", 5, 1, server: false));
        Assert.False(TargetOsVersion.Parse("NTamd64")!.Allows("x86", 5, 2, server: true));
        Assert.True(TargetOsVersion.Parse("NT")!.Allows("x86", 5, 1, server: false)); // no architecture: x86
        Assert.False(TargetOsVersion.Parse("NTx86.5.2.1")!.Allows("x86", 5, 2, server: true)); // workstation only
        Assert.Null(TargetOsVersion.Parse("NTsparc"));
    }
}
