import os
import sys

# Quiet TensorFlow's start-up chatter and make the repository importable from the tests.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# TF enables oneDNN by default only on AVX-512 CPUs; switch it on everywhere so that every machine
# runs the same CPU kernels (grouped convolutions need it). See ORIGINALS.md, pitfall 13.
os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '1')
