namespace PimQuant.Engine.Graph;

/// <summary>A model graph that is malformed or uses something PimQuant does not support.
/// The message names the node, operator or tensor concerned; it is meant for the user.</summary>
public class GraphException(string message) : Exception(message);
