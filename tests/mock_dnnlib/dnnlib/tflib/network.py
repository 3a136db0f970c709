"""Test-only stand-in for `dnnlib.tflib.network.Network` (graph mode, `tf.compat.v1`).

Does what NVIDIA's class does when it rebuilds a network: shapeless float32 placeholders for the build function's
positional parameters (those without a default), a template graph built under the network's own root-level
variable scope with `is_template_graph=True` and `components=self.components`, own variables = the global
variables of that scope in creation order (components live in their own root-level scopes), and
`get_output_for` re-calling the build function in the same scope with `reuse=True`.
"""
import collections
import inspect

import tensorflow as tf

from dnnlib import EasyDict

tf1 = tf.compat.v1


class Network:
    def __init__(self, name, func_name, **static_kwargs):
        assert callable(func_name), 'the mock takes the build function itself'
        self.name = name
        self._build_func = func_name
        self.static_kwargs = EasyDict(static_kwargs)
        self.components = EasyDict()
        params = inspect.signature(func_name).parameters.values()
        self.input_names = [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD and p.default is p.empty]
        graph = tf1.get_default_graph()
        with tf1.name_scope(None):
            self.scope = graph.unique_name(name, mark_as_used=True)
        with self._variable_scope(reuse=False), tf1.name_scope(self.scope + '/'), tf.control_dependencies(None):
            self.input_templates = [tf1.placeholder(tf.float32, name=n) for n in self.input_names]
            kwargs = dict(self.static_kwargs, is_template_graph=True, components=self.components)
            out = self._build_func(*self.input_templates, **kwargs)
        self.output_templates = list(out) if isinstance(out, (tuple, list)) else [out]
        self.input_shapes = [t.shape.as_list() for t in self.input_templates]
        self.output_shapes = [t.shape.as_list() for t in self.output_templates]
        self.input_shape, self.output_shape = self.input_shapes[0], self.output_shapes[0]
        prefix = self.scope + '/'
        self.own_vars = collections.OrderedDict(
            (v.name[len(prefix):].split(':')[0], v) for v in tf1.global_variables(prefix))
        self.vars = collections.OrderedDict(self.own_vars)
        for comp in self.components.values():
            self.vars.update((comp.name + '/' + n, v) for n, v in comp.vars.items())
        self.trainables = collections.OrderedDict(
            (n, v) for n, v in self.vars.items() if any(v is t for t in tf1.trainable_variables()))

    def _variable_scope(self, reuse):
        """The network's scope as an absolute (root-level) variable scope."""
        return tf1.variable_scope(tf1.VariableScope(name=self.scope, reuse=reuse), auxiliary_name_scope=False)

    def get_output_for(self, *in_expr, return_as_list=False, **dynamic_kwargs):
        assert len(in_expr) == len(self.input_names)
        kwargs = dict(self.static_kwargs)
        kwargs.update(dynamic_kwargs)
        kwargs['components'] = self.components
        with self._variable_scope(reuse=True), tf1.name_scope(self.name):
            batch = tf.shape([x for x in in_expr if x is not None][0])[0]
            inputs = [tf.identity(x, name=n) if x is not None else tf.zeros([batch] + shape[1:], name=n)
                      for x, n, shape in zip(in_expr, self.input_names, self.input_shapes)]  # None: zeros
            out = self._build_func(*inputs, **kwargs)
        if return_as_list:
            return list(out) if isinstance(out, (tuple, list)) else [out]
        return out
