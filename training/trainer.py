"""The phases of a training minibatch and their compiled steps: Trainer, on one tf.distribute strategy.

A minibatch runs the phases of Trainer.phases in NVIDIA's order: G step [+ G regularization every G_reg_interval]
-> D step [+ D regularization every D_reg_interval, on the D step's reals], then the update of Gs (the moving
average of G). Each phase accumulates gradients over minibatch_size / (minibatch_gpu *
replicas) rounds per replica, then applies one Adam update with their mean. Reals come as uint8 from tf.data, and
are mapped to the network's range, mirrored and faded inside the step (process_reals).
"""

import typing

import numpy as np
import tensorflow as tf

import dnnlib
import dnnlib.tflib as tflib
from dnnlib.tflib import autosummary
from dnnlib.tflib.ops.upfirdn_2d import downsample_2d, upsample_2d
from dnnlib.tflib.optimizer import Optimizer
from training import loss as loss_module
from training.images import adjust_dynamic_range
from training.cluster import check_minibatch_split

# The random stream of each phase: its numbers are keyed on this id, whatever phases the run has and in whatever
# order they run.
RANDOM_STREAMS = {'TrainG': 1, 'RegG': 2, 'TrainD': 3, 'RegD': 4}


class Phase(typing.NamedTuple):
    """One part of a minibatch (stylegan2-ada's phases). name: NVIDIA's optimizer name (TrainG, RegG, TrainD, RegD),
    which keys its statistics and its random numbers (RANDOM_STREAMS). net: the network it trains. opt: its
    optimizer. loss: f(G, D, inputs, terms) -> (loss, reg). terms: what it minimizes, ('loss',), ('reg',) or both.
    interval: it runs every interval-th minibatch. lrate_ratio: its share of the schedule's learning rate."""
    name: str
    net: object
    opt: Optimizer
    loss: object
    terms: tuple
    interval: int
    lrate_ratio: float


class Trainer:
    """The networks, optimizers, losses and compiled phases of one run, on one tf.distribute strategy.

    A minibatch runs self.phases in order (NVIDIA's): TrainG (G loss), RegG (G regularization, every
    G_reg_interval-th minibatch), TrainD (D loss), RegD (D regularization, every D_reg_interval-th minibatch, on the
    reals of TrainD), then updates Gs. A network has a Reg phase when its loss has a regularizer
    (Loss.terms). Without lazy regularization: TrainG and TrainD minimize loss and regularization together.
    StyleGAN and ProGAN (D_first) update Gs, run TrainD, then TrainG. Each phase accumulates gradients over the
    minibatch's rounds in every replica, then applies one Adam update with their mean.

    All random numbers of a minibatch (latents, random labels, path length batch, mirroring, the networks' noise and
    style mixing) are stateless, keyed on the minibatch's seed, the phase's stream and the chunk of minibatch_gpu
    images (chunk = replica * rounds + round): a run draws the same numbers for the same images whatever the number
    of replicas, and a resumed run draws what the uninterrupted run would have drawn.
    """

    def __init__(self, *, strategy, G, D, Gs, G_opt_args, D_opt_args, G_loss_args, D_loss_args, lazy_regularization=True,
                 G_reg_interval=4, D_reg_interval=16, G_smoothing_kimg=10.0, G_smoothing_beta=None, D_first=False,
                 mirror_augment=False, drange_data=(0, 255), drange_net=(-1, 1), label_table=None):
        self.strategy = strategy
        self.G, self.D, self.Gs = G, D, Gs
        self.G_smoothing_kimg, self.G_smoothing_beta, self.D_first = G_smoothing_kimg, G_smoothing_beta, D_first
        self.mirror_augment, self.drange_data, self.drange_net = mirror_augment, list(drange_data), list(drange_net)
        self.label_table = None  # Kept on the CPU in a variable, as in the original: it can be larger than a graph.
        if label_table is not None and np.shape(label_table)[1] > 0:
            with tf.device('/cpu:0'):
                self.label_table = tf.Variable(np.asarray(label_table, np.float32), trainable=False, name='label_table')
        self.resolution_log2 = int(np.log2(D.input_shape[-1]))

        # Lazy regularization: the main phases skip the regularizer, which runs every N minibatches with its weight
        # times N; learning rate and Adam betas are rescaled by N / (N + 1) to compensate.
        ratios = {'G': G_reg_interval / (G_reg_interval + 1), 'D': D_reg_interval / (D_reg_interval + 1)}
        if not lazy_regularization:
            ratios = {'G': 1.0, 'D': 1.0}
        opt_args = {}
        for net, args in (('G', G_opt_args), ('D', D_opt_args)):
            args = opt_args[net] = dict(args)
            for beta in ('beta1', 'beta2'):
                if beta in args:
                    args[beta] **= ratios[net]

        with strategy.scope():
            self.loss = loss_module.Loss(G_loss_args, D_loss_args)
            self.G_opt = Optimizer(name='TrainG', **opt_args['G'])
            self.D_opt = Optimizer(name='TrainD', **opt_args['D'])
            self.G_opt.setup(list(G.trainables.values()))
            self.D_opt.setup(list(D.trainables.values()))
            self.G_reg_opt = self.D_reg_opt = None
            if lazy_regularization:
                self.G_reg_opt = Optimizer(name='RegG', share=self.G_opt, **opt_args['G'])
                self.D_reg_opt = Optimizer(name='RegD', share=self.D_opt, **opt_args['D'])
                self.G_reg_opt.setup()
                self.D_reg_opt.setup()

        phases = {}
        for net, main_opt, reg_opt, interval in (('G', self.G_opt, self.G_reg_opt, G_reg_interval),
                                                  ('D', self.D_opt, self.D_reg_opt, D_reg_interval)):
            network, terms = (G if net == 'G' else D), self.loss.terms(net)
            loss = _LossTerm(self.loss, net)
            if not lazy_regularization:
                phases[net] = [Phase('Train' + net, network, main_opt, loss, terms, 1, ratios[net])]
                continue
            phases[net] = [Phase('Train' + net, network, main_opt, loss, ('loss',), 1, ratios[net])]
            if 'reg' in terms:
                phases[net].append(Phase('Reg' + net, network, reg_opt, loss, ('reg',), interval, ratios[net]))
        self.phases = phases['D'] + phases['G'] if D_first else phases['G'] + phases['D']
        self._round_fns = {}
        # One compiled update per optimizer state: a regularization phase steps through its main phase's.
        root_fns = {id(phase.opt.root): tflib.tfutil.function(phase.opt.root.apply_updates) for phase in self.phases
                    if phase.opt.root is phase.opt}
        self._apply_fns = {phase.name: root_fns[id(phase.opt.root)] for phase in self.phases}
        self._gs_update_fn = tflib.tfutil.function(self._update_gs)
        self._sum_fn = tflib.tfutil.function(self._sum)
        self._round_indices = []
        self._pending_stats = []

    # -- a minibatch ------------------------------------------------------------

    def run_minibatch(self, index, data, seed, lod, learning_rate, minibatch_gpu):
        """Run the phases due at minibatch number `index`, and update Gs.

        data: (images, labels) per replica, from TFRecordDataset.distributed_minibatches(): uint8 images at the
        resolution of floor(lod), rounds * minibatch_gpu of them per replica. seed: int [2], the minibatch's random
        numbers. learning_rate: the schedule's rate (NVIDIA feeds G's to D too); each phase scales it by its lazy
        regularization ratio. The phases' statistics stay on the device until pop_stats().
        """
        minibatch_size = self.strategy.experimental_local_results(data[0])[0].shape[0] * self.strategy.num_replicas_in_sync
        if self.D_first:  # StyleGAN and ProGAN update Gs with their D step, before the G step.
            self.update_gs(self.gs_beta(minibatch_size))
        for phase in self.phases:
            if index % phase.interval == 0:
                self.run_phase(phase, data, seed, lod, learning_rate, minibatch_gpu)
        if not self.D_first:  # StyleGAN2: after the G step (and, as Gs depends on G only, after the D step).
            self.update_gs(self.gs_beta(minibatch_size))

    def run_phase(self, phase, data, seed, lod, learning_rate, minibatch_gpu):
        """One phase of run_minibatch(): every round of its gradient accumulation, then its optimizer update."""
        images, labels = data
        per_replica = self.strategy.experimental_local_results(images)[0].shape
        replicas = self.strategy.num_replicas_in_sync
        rounds = check_minibatch_split(per_replica[0] * replicas, minibatch_gpu, replicas)
        level = self.resolution_log2 - int(np.log2(per_replica[-1]))
        key = (phase.name, level, minibatch_gpu, rounds)
        if key not in self._round_fns:
            self._round_fns[key] = self._make_round_fn(phase, level, minibatch_gpu, rounds)
        seed, lod = tf.constant(seed, tf.int64), tf.constant(lod, tf.float32)
        while len(self._round_indices) < rounds:
            self._round_indices.append(tf.constant(len(self._round_indices), tf.int64))  # int64: oneDNN logs about int32.
        for round_index in self._round_indices[:rounds]:
            self._pending_stats.append(self._round_fns[key](seed, lod, round_index, images, labels))
        rate = learning_rate * phase.lrate_ratio
        with self.strategy.scope():
            applied = self._apply_fns[phase.name](tf.constant(rate, tf.float32))
        self._pending_stats.append({f'{phase.name}/learning_rate': rate,
                                    f'{phase.name}/overflow_frequency': 1.0 - tf.cast(applied, tf.float32)})

    def pop_stats(self):
        """Each statistic of the minibatches run since the last call, averaged over the rounds that produced it."""
        sums, counts = {}, {}
        for stats in self._pending_stats:
            for key, value in stats.items():
                sums[key] = sums.get(key, 0.0) + float(value)
                counts[key] = counts.get(key, 0) + 1
        self._pending_stats = []
        return {key: value / counts[key] for key, value in sums.items()}

    def _make_round_fn(self, phase, level, minibatch_gpu, rounds):
        names = []  # The statistics' names, in the order of the vector that replica_fn returns.

        def round_fn(seed, lod, round_index, images, labels):
            def replica_fn(images, labels):
                replica = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.int64)
                chunk = replica * rounds + round_index
                part = slice(round_index * minibatch_gpu, (round_index + 1) * minibatch_gpu)
                images_part, labels_part = images[part], labels[part]
                # A static batch size lets shape arithmetic (minibatch stddev groups) fold at trace time.
                images_part.set_shape([minibatch_gpu] + images.shape[1:])
                labels_part.set_shape([minibatch_gpu] + labels.shape[1:])
                stats = self._accumulate(phase, seed, chunk, lod, level, minibatch_gpu, images_part, labels_part)
                names[:] = sorted(stats)
                return tf.stack([stats[name] for name in names])
            # One all-reduce for all the statistics (each would be a round trip between the workers of a cluster).
            means = self.strategy.reduce(tf.distribute.ReduceOp.MEAN, self.strategy.run(replica_fn, args=(images, labels)), axis=None)
            return dict(zip(names, tf.unstack(means, num=len(names))))
        return tflib.tfutil.function(round_fn)

    # -- per replica ------------------------------------------------------------

    @staticmethod
    def _chunk_seed(seed, chunk):
        return tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), tf.cast(chunk, tf.int64))

    def random_scope(self, phase, seed, chunk):
        """The scope in which one chunk of a phase draws all its random numbers: first its inputs (draw_inputs), then
        what the loss and the networks draw."""
        return tflib.reproducible_random(tf.random.experimental.stateless_fold_in(self._chunk_seed(seed, chunk),
                                                                                  RANDOM_STREAMS[phase.name]))

    def draw_inputs(self, phase, seed, chunk, lod, level, n, images=None, labels=None):
        """The inputs of one chunk of a phase, in its random_scope(): latents, labels (of random dataset entries for
        G, the reals' for D) and random_labels(n); for D the processed reals of the chunk."""
        inputs = dnnlib.EasyDict(random_labels=self._random_labels)
        if phase.net is self.D:
            # Keyed on the chunk only, not the phase: TrainD and RegD see the same mirrored reals.
            with tflib.reproducible_random(self._chunk_seed(seed, chunk)):
                inputs.reals = process_reals(images, lod, level, self.mirror_augment, self.drange_data, self.drange_net)
        inputs.latents = tflib.random_normal([n] + self.G.input_shape[1:])
        inputs.labels = self._random_labels(n) if phase.net is self.G else tf.cast(labels, tf.float32)
        return inputs

    def _random_labels(self, n):
        """Labels of uniformly random dataset entries (NVIDIA's get_random_labels_tf); zero-width without labels."""
        if self.label_table is None:
            return tf.zeros([n, 0])
        index = tflib.random_uniform([n], 0, self.label_table.shape[0], dtype=tf.int64)
        return tf.gather(self.label_table, index)

    def _accumulate(self, phase, seed, chunk, lod, level, minibatch_gpu, images, labels):
        """One round in one replica: gradients of the phase's mean terms added to its optimizer's accumulators."""
        variables = list(phase.net.trainables.values())
        # At level L (L <= lod < L + 1) the progressive networks skip the levels finer than resolution / 2**L.
        G, D = (self.G, self.D) if level == 0 else (_SkipFinerLevels(self.G, level), _SkipFinerLevels(self.D, level))
        with tf.GradientTape() as tape, self.random_scope(phase, seed, chunk), autosummary.collect() as reports:
            inputs = self.draw_inputs(phase, seed, chunk, lod, level, minibatch_gpu, images, labels)
            loss, reg = phase.loss(G, D, inputs, phase.terms)
            terms = []
            if loss is not None:
                terms.append(tf.reduce_mean(loss))
            if reg is not None:
                terms.append(tf.reduce_mean(reg * phase.interval))
            total = tf.add_n(terms)
        phase.opt.accumulate(tape.gradient(total, variables))
        # NVIDIA's values (Loss/scores/real, Loss/pl_lengths, ...), plus the loss and the regularization term as
        # a whole (Loss/G/loss, Loss/G/reg, Loss/D/loss, Loss/D/reg).
        stats = {name: tf.reduce_mean(tf.concat(values, axis=0)) for name, values in reports.items()}
        if loss is not None:
            stats[f'Loss/{phase.net.name}/loss'] = tf.reduce_mean(loss)
        if reg is not None:
            stats[f'Loss/{phase.net.name}/reg'] = tf.reduce_mean(reg)
        return stats

    # -- Gs, cross replica, state -----------------------------------------------

    def gs_beta(self, minibatch_size):
        """The moving average's beta: ProGAN's fixed G_smoothing_beta, else 0.5 per G_smoothing_kimg of images."""
        if self.G_smoothing_beta is not None:
            return self.G_smoothing_beta
        return 0.5 ** (minibatch_size / max(self.G_smoothing_kimg * 1000.0, 1e-8))

    def update_gs(self, beta):
        """Gs = G + (Gs - G) * beta."""
        with self.strategy.scope():
            self._gs_update_fn(tf.constant(beta, tf.float32))

    def _update_gs(self, beta):
        self.Gs.setup_as_moving_average_of(self.G, beta=beta)

    def any_replica(self, flag):
        """True if `flag` is true in any process of the run (e.g. abort.txt seen by the chief): all stop together."""
        if self.strategy.num_replicas_in_sync == 1:
            return bool(flag)
        with self.strategy.scope():
            value = self.strategy.experimental_distribute_values_from_function(lambda _ctx: tf.constant(float(flag)))
            return float(self._sum_fn(value)) > 0

    def _sum(self, per_replica):
        return self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    def reset_optimizers(self):
        """Forget Adam's moments and step counts (NVIDIA's reset_opt_for_new_lod when the resolution changes)."""
        with self.strategy.scope():
            for opt in (self.G_opt, self.D_opt):
                opt.reset_optimizer_state()

    def checkpoint_variables(self):
        """Everything a resumed run needs besides the pickled networks: optimizer state and the losses' variables."""
        state = dict(self.loss.variables)
        for opt in (self.G_opt, self.D_opt):
            state.update(opt.state_variables())
        return state


class _LossTerm(typing.NamedTuple):
    """A phase's loss: one network's (G or D) loss of the run's Loss."""
    loss: loss_module.Loss
    net: str

    def __call__(self, G, D, inputs, terms):
        return self.loss(self.net, G, D, inputs, terms)


class _SkipFinerLevels:
    """A network whose calls build only the levels that a lod >= `level` uses (min_lod=level): the original's
    'recursive' structure, as one trace per level. The training step is traced per level anyway (its reals come at
    the level's resolution), so this costs no extra tracing and needs no tf.cond in the gradients."""

    def __init__(self, net, level):
        self.net, self.level = net, level

    def __getattr__(self, name):
        return getattr(self.net, name)

    def get_output_for(self, *in_expr, **kwargs):
        return self.net.get_output_for(*in_expr, min_lod=self.level, **kwargs)


def process_reals(x, lod, level, mirror_augment, drange_data, drange_net):
    """NVIDIA's process_reals, in the step: uint8 reals [N, C, h, h] at the resolution of level = floor(lod) to the
    network's range, mirrored at random (left-right, each image with probability 1/2), faded towards the next coarser
    level by lod - floor(lod), then nearest-upsampled by 2^level to full resolution."""
    x = adjust_dynamic_range(tf.cast(x, tf.float32), drange_data, drange_net)
    if mirror_augment:
        flip = tflib.random_uniform([tf.shape(x)[0], 1, 1, 1]) < 0.5
        x = tf.where(flip, tf.reverse(x, axis=[3]), x)
    coarse = upsample_2d(downsample_2d(x, data_format='NCHW'), data_format='NCHW')  # 2x2 box, then nearest.
    x = x + (coarse - x) * (lod - tf.floor(lod))
    return upsample_2d(x, factor=2 ** level, data_format='NCHW') if level > 0 else x
