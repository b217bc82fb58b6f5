using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace P2V.Controller.WebConsole;

/// <summary>
/// The web console: HTML, CSS and JS embedded in this assembly (WebConsole/wwwroot), served at / and /console/. They
/// hold no data; everything shown comes from the admin API with the operator's token.
/// </summary>
public static class ConsoleFiles
{
    private static readonly Dictionary<string, (byte[] Content, string Type)> Files = Load();

    public static void Map(IEndpointRouteBuilder app)
    {
        app.MapGet("/", () => Serve("index.html"));
        app.MapGet("/console/{name}", (string name) => Serve(name));
    }

    private static IResult Serve(string name) => Files.TryGetValue(name, out var f)
        ? Results.Bytes(f.Content, f.Type)
        : Results.NotFound();

    private static Dictionary<string, (byte[], string)> Load()
    {
        var assembly = typeof(ConsoleFiles).Assembly;
        var files = new Dictionary<string, (byte[], string)>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith("console/", StringComparison.Ordinal)))
        {
            using var s = assembly.GetManifestResourceStream(resource)!;
            using var m = new MemoryStream();
            s.CopyTo(m);
            var name = resource["console/".Length..];
            files[name] = (m.ToArray(), Path.GetExtension(name) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                _ => "application/octet-stream",
            });
        }
        return files;
    }
}
