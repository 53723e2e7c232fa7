namespace PimQuant.Engine.Graph;

/// <summary>A model graph that is malformed or uses something PimQuant does not support.
/// The message names the node, operator or tensor concerned; it is meant for the user.</summary>
public class GraphException : Exception
{
    public GraphException(string message) : base(message) { }

    public GraphException(string message, Exception inner) : base(message, inner) { }
}
