using System.Globalization;

namespace ElasticTrain.Configuration;

/// <summary>The HOST:PORT form every address takes here: a node to join, a data-plane listener.</summary>
public static class HostPort
{
    /// <summary>Splits at the last colon; the port must be 1-65535.</summary>
    public static bool TryParse(string endpoint, out string host, out int port)
    {
        var colon = endpoint.LastIndexOf(':');
        host = colon > 0 ? endpoint[..colon] : "";
        port = 0;
        return colon > 0 && int.TryParse(endpoint.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port)
            && port is > 0 and <= 65535;
    }
}
