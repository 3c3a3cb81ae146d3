import os
import sys

# Quiet TensorFlow's start-up chatter and make the repository importable from the tests.
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
