"""Frozen TensorFlow graphs (GraphDef .pb files: the 2015 Inception network, LPIPS) as TF2 functions: the graph is
imported into a tf.function's graph (tf.graph_util.import_graph_def) with its inputs remapped to the function's
arguments. Reading a GraphDef runs no Python code."""

import tensorflow as tf
from tensorflow.core.framework import graph_pb2


def read_graph_def(path):
    """The GraphDef in a .pb file; a clear error if the file is not one."""
    graph_def = graph_pb2.GraphDef()
    with open(path, 'rb') as file:
        data = file.read()
    try:
        graph_def.ParseFromString(data)
    except Exception as err:  # protobuf's DecodeError, whose module differs between protobuf builds.
        raise ValueError(f'{path} is not a TensorFlow GraphDef (.pb) file: {err}') from err
    return graph_def


def graph_function(graph_def, input_map_specs, output_names, build_outputs=None):
    """A TF2 function of the graph: its arguments (one per input_map_specs item, a name in the graph and a
    tf.TensorSpec) replace those tensors of the graph, and it returns the named output tensors, passed through
    build_outputs(outputs) -> outputs when given (e.g. to add ops that use the graph's weights)."""
    names = list(input_map_specs)

    def imported(*inputs):
        outputs = tf.graph_util.import_graph_def(graph_def, input_map=dict(zip(names, inputs)),
                                                 return_elements=list(output_names), name='')
        return build_outputs(outputs) if build_outputs is not None else outputs

    return tf.function(imported, input_signature=[input_map_specs[name] for name in names])
