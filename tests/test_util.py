"""Tests for dnnlib.util (EasyDict, Logger, format_time, names, open_url) and dnnlib.submission.

No network is needed: http downloads go to a server on 127.0.0.1 started by the test, and the
offline case uses a port that refuses connections.
"""

import argparse
import ast
import copy
import hashlib
import http.server
import os
import pickle
import socket
import sys
import threading

import pytest

import dnnlib
from dnnlib import util
from dnnlib.submission import run_context, submit


# ------------------------------------------------------------------------------------------------
# format_time, EasyDict, Logger
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('seconds, expected', [
    (0, '0s'),
    (0.5, '0s'),            # halves round to even, like numpy.rint in NVIDIA's version
    (1.5, '2s'),
    (59.4, '59s'),
    (59.5, '1m 00s'),
    (65, '1m 05s'),
    (3599, '59m 59s'),
    (3600, '1h 00m 00s'),
    (3725, '1h 02m 05s'),
    (86399, '23h 59m 59s'),
    (86400, '1d 00h 00m'),
    (2 * 86400 + 3 * 3600 + 4 * 60 + 5, '2d 03h 04m'),
    (123 * 86400, '123d 00h 00m'),
])
def test_format_time(seconds, expected):
    assert util.format_time(seconds) == expected


def test_easydict_attribute_access():
    d = util.EasyDict(a=1, b=util.EasyDict(c=2))
    assert d.a == 1 and d['a'] == 1 and d.b.c == 2
    d.x = 5
    assert d['x'] == 5
    del d.x
    assert 'x' not in d
    with pytest.raises(AttributeError):
        d.missing
    with pytest.raises(AttributeError):
        del d.missing
    assert not hasattr(d, 'missing')
    assert getattr(d, 'missing', 'default') == 'default'
    assert isinstance(d, dict)


def test_easydict_pickle_and_copy():
    d = util.EasyDict(a=1, nested=util.EasyDict(b=[1, 2]))
    for restored in (pickle.loads(pickle.dumps(d)), pickle.loads(pickle.dumps(d, protocol=2)), copy.deepcopy(d)):
        assert type(restored) is util.EasyDict and type(restored.nested) is util.EasyDict
        assert restored == d and restored.nested.b == [1, 2]
    shallow = copy.copy(d)
    assert type(shallow) is util.EasyDict and shallow.nested is d.nested


def test_logger_tees_stdout_and_stderr(tmp_path):
    log_path = tmp_path / 'log.txt'
    old_out, old_err = sys.stdout, sys.stderr
    logger = util.Logger(file_name=str(log_path), file_mode='w', should_flush=True)
    try:
        assert sys.stdout is logger and sys.stderr is not old_err
        assert logger.should_flush
        print('to stdout')
        print('to stderr', file=sys.stderr)
        sys.stdout.write('')  # empty writes are ignored
        # Flushed as written, so the file is complete while the run is still going.
        assert log_path.read_text() == 'to stdout\nto stderr\n'
    finally:
        logger.close()
    assert sys.stdout is old_out and sys.stderr is old_err
    logger.close()  # a second close is harmless
    print('after close')
    assert log_path.read_text() == 'to stdout\nto stderr\n'


def test_logger_appends_and_works_as_context_manager(tmp_path):
    log_path = tmp_path / 'log.txt'
    log_path.write_text('old\n')
    with util.Logger(file_name=str(log_path), file_mode='a'):
        print('new')
    assert log_path.read_text() == 'old\nnew\n'


# ------------------------------------------------------------------------------------------------
# Objects by name
# ------------------------------------------------------------------------------------------------

def test_get_obj_by_name():
    import os.path
    assert util.get_obj_by_name('os.path.join') is os.path.join
    assert util.get_obj_by_name('os.path') is os.path
    assert util.get_obj_by_name('dnnlib.util.EasyDict') is util.EasyDict
    assert util.get_obj_by_name('dnnlib.util.EasyDict.__getattr__') is util.EasyDict.__getattr__
    module, local = util.get_module_from_obj_name('dnnlib.util.format_time')
    assert module is util and local == 'format_time'
    assert util.call_func_by_name(90, func_name='dnnlib.util.format_time') == '1m 30s'
    with pytest.raises(AttributeError):
        util.get_obj_by_name('dnnlib.util.no_such_function')
    with pytest.raises(ImportError):
        util.get_obj_by_name('no_such_module_xyz.func')


def test_get_obj_by_name_reports_broken_module(tmp_path, monkeypatch):
    # A module that exists but cannot be imported must show its own error, not "not found".
    (tmp_path / 'broken_mod_for_test.py').write_text('import missing_dependency_for_test\ndef f(): pass\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        util.get_obj_by_name('broken_mod_for_test.f')
    assert info.value.name == 'missing_dependency_for_test'


def test_get_top_level_function_name():
    assert util.get_top_level_function_name(util.format_time) == 'dnnlib.util.format_time'
    assert util.get_obj_by_name(util.get_top_level_function_name(_trivial_run)) is _trivial_run
    with pytest.raises(ValueError):
        util.get_top_level_function_name(lambda x: x)


# ------------------------------------------------------------------------------------------------
# open_url
# ------------------------------------------------------------------------------------------------

def test_is_url():
    assert util.is_url('https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-ffhq-config-f.pkl')
    assert util.is_url('http://127.0.0.1:8000/x.pkl')
    assert util.is_url('http://localhost/x.pkl')
    assert not util.is_url('file:///tmp/x.pkl')
    assert util.is_url('file:///tmp/x.pkl', allow_file_urls=True)
    assert not util.is_url('/tmp/x.pkl', allow_file_urls=True)
    assert not util.is_url('stylegan2-ffhq-config-f.pkl')
    assert not util.is_url(r'C:\nets\x.pkl')
    assert not util.is_url(None) and not util.is_url(b'http://a.b/c')


def test_open_url_local_path_and_file_url(tmp_path):
    path = tmp_path / 'dir with space' / 'net.pkl'
    path.parent.mkdir()
    path.write_bytes(b'local bytes')
    for source in (str(path), path, path.as_uri()):
        with util.open_url(source) as f:
            assert f.read() == b'local bytes'
    assert '%20' in path.as_uri()
    assert util.open_url(path.as_uri(), return_filename=True) == str(path)
    assert util.open_url(str(path), return_filename=True) == str(path)


def test_open_url_missing_local_file(tmp_path):
    missing = str(tmp_path / 'nope.pkl')
    with pytest.raises(FileNotFoundError) as info:
        util.open_url(missing)
    assert missing in str(info.value)
    with pytest.raises(FileNotFoundError) as info:
        util.open_url('file://' + missing)
    assert missing in str(info.value)


def test_cache_file_name_rule():
    url = 'https://example.com/nets/my%20net+v2(1).pkl?download=1'
    md5 = hashlib.md5(url.encode('utf-8')).hexdigest()
    assert util._url_cache_name(url) == md5 + '_my_net_v2_1_.pkl'
    url = 'https://nvlabs-fi-cdn.nvidia.com/stylegan2/networks/stylegan2-ffhq-config-f.pkl'
    assert util._url_cache_name(url) == hashlib.md5(url.encode()).hexdigest() + '_stylegan2-ffhq-config-f.pkl'


class _LocalServer:
    """A threaded HTTP server on 127.0.0.1 serving a folder; counts requests, can fail on purpose."""

    def __init__(self, root):
        self.root = root
        self.requests = []
        self.fail_next = 0  # answer this many requests with HTTP 500
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            timeout = 10  # seconds; a stuck client cannot hold a handler thread forever

            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(server.root), **kwargs)

            def do_GET(self):
                server.requests.append(self.path)
                if server.fail_next > 0:
                    server.fail_next -= 1
                    self.send_error(500)
                else:
                    super().do_GET()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.url = 'http://127.0.0.1:%d' % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs=dict(poll_interval=0.05), daemon=True)
        self.thread.start()
        self.running = True

    def stop(self):
        if self.running:
            self.running = False
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(timeout=10)


@pytest.fixture
def server(tmp_path, monkeypatch):
    # A proxy configured in the environment must not intercept requests to our local server.
    monkeypatch.setenv('NO_PROXY', '127.0.0.1,localhost')
    monkeypatch.setenv('no_proxy', '127.0.0.1,localhost')
    root = tmp_path / 'www'
    root.mkdir()
    srv = _LocalServer(root)
    yield srv
    srv.stop()


def test_open_url_http_download_then_cache(server, tmp_path, capsys):
    payload = os.urandom(100_000)
    (server.root / 'net work.pkl').write_bytes(payload)
    url = server.url + '/net%20work.pkl'
    cache_dir = tmp_path / 'cache'

    with util.open_url(url, cache_dir=str(cache_dir)) as f:
        assert f.read() == payload
    assert 'Downloading ' + url in capsys.readouterr().out
    assert server.requests == ['/net%20work.pkl']

    # Exactly one file, under the documented name: no temporary files are left behind.
    expected_name = hashlib.md5(url.encode()).hexdigest() + '_net_work.pkl'
    assert os.listdir(cache_dir) == [expected_name]
    assert (cache_dir / expected_name).read_bytes() == payload

    # With the server gone, the second open must come from the cache.
    server.stop()
    with util.open_url(url, cache_dir=str(cache_dir)) as f:
        assert f.read() == payload
    assert util.open_url(url, cache_dir=str(cache_dir), return_filename=True) == str(cache_dir / expected_name)
    assert len(server.requests) == 1
    assert capsys.readouterr().out == ''


def test_open_url_default_cache_dir_from_environment(server, tmp_path, monkeypatch):
    (server.root / 'a.bin').write_bytes(b'abc')
    monkeypatch.setenv('DNNLIB_CACHE_DIR', str(tmp_path / 'envcache'))
    assert util.make_cache_dir_path('x', 'y') == os.path.join(str(tmp_path / 'envcache'), 'x', 'y')
    path = util.open_url(server.url + '/a.bin', verbose=False, return_filename=True)
    assert os.path.dirname(path) == str(tmp_path / 'envcache')
    assert open(path, 'rb').read() == b'abc'
    monkeypatch.delenv('DNNLIB_CACHE_DIR')
    monkeypatch.setenv('HOME', str(tmp_path / 'home'))
    assert util.make_cache_dir_path() == os.path.join(str(tmp_path / 'home'), '.cache', 'dnnlib')


def test_open_url_retries_transient_errors(server, tmp_path):
    (server.root / 'a.bin').write_bytes(b'xyz')
    server.fail_next = 2
    with util.open_url(server.url + '/a.bin', cache_dir=str(tmp_path / 'c'), num_attempts=3, verbose=False) as f:
        assert f.read() == b'xyz'
    assert len(server.requests) == 3


def test_open_url_http_404_is_not_retried(server, tmp_path):
    url = server.url + '/missing.pkl'
    with pytest.raises(OSError) as info:
        util.open_url(url, cache_dir=str(tmp_path / 'c'), num_attempts=5, verbose=False)
    assert url in str(info.value) and '404' in str(info.value)
    assert len(server.requests) == 1
    assert not (tmp_path / 'c').exists()


def test_open_url_offline_error_message(tmp_path):
    # A bound but not listening socket: connecting to it is refused, like an unreachable server.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        url = 'http://127.0.0.1:%d/stylegan2-ffhq-config-f.pkl' % sock.getsockname()[1]
        cache_dir = tmp_path / 'cache'
        with pytest.raises(OSError) as info:
            util.open_url(url, cache_dir=str(cache_dir), num_attempts=2, verbose=False)
    message = str(info.value)
    expected_cache_file = os.path.join(str(cache_dir), hashlib.md5(url.encode()).hexdigest() + '_stylegan2-ffhq-config-f.pkl')
    assert not isinstance(info.value, FileNotFoundError)
    assert url in message
    assert 'offline' in message
    assert 'local path' in message
    assert expected_cache_file in message
    assert '2 attempts' in message
    # Following the advice works: a file placed at the printed path is used without any network.
    os.makedirs(cache_dir)
    with open(expected_cache_file, 'wb') as f:
        f.write(b'placed by hand')
    with util.open_url(url, cache_dir=str(cache_dir)) as f:
        assert f.read() == b'placed by hand'


def test_open_url_failed_cache_write_leaves_no_temp_file(server, tmp_path, monkeypatch):
    (server.root / 'a.bin').write_bytes(b'data')
    cache_dir = tmp_path / 'cache'

    def failing_replace(src, dst):
        raise OSError('disk full')
    monkeypatch.setattr(util.os, 'replace', failing_replace)
    with pytest.raises(OSError, match='disk full'):
        util.open_url(server.url + '/a.bin', cache_dir=str(cache_dir), verbose=False)
    assert os.listdir(cache_dir) == []


def test_open_url_reads_cache_file_named_by_original_code(tmp_path):
    # NVIDIA's open_url named the file after the whole URL; such a cache must still be found.
    url = 'https://example.com/nets/x.pkl'
    md5 = hashlib.md5(url.encode()).hexdigest()
    (tmp_path / (md5 + '_https___example.com_nets_x.pkl')).write_bytes(b'old cache')
    with util.open_url(url, cache_dir=str(tmp_path)) as f:
        assert f.read() == b'old cache'


# ------------------------------------------------------------------------------------------------
# Run directories and submit_run
# ------------------------------------------------------------------------------------------------

def _trivial_run(submit_config, value):
    """Run function for the tests: records what it sees and writes into the run dir."""
    assert dnnlib.submit_config is submit_config
    with open(submit.make_run_dir_path('out.txt'), 'w') as f:
        f.write('value=%s id=%d' % (value, submit_config.run_id))
    print('hello from the run')
    print('warning on stderr', file=sys.stderr)


def _run_without_config(value):
    with open(submit.make_run_dir_path('plain.txt'), 'w') as f:
        f.write(str(value))


def _failing_run():
    print('about to fail')
    raise RuntimeError('boom in run')


def _config(root, desc='test-run'):
    sc = submit.SubmitConfig()
    sc.run_dir_root = str(root)
    sc.run_desc = desc
    sc.user_name = 'tester'
    return sc


def test_get_next_run_id(tmp_path):
    assert submit.get_next_run_id(str(tmp_path / 'does-not-exist')) == 0
    assert submit.get_next_run_id(str(tmp_path)) == 0
    (tmp_path / '00003-foo').mkdir()
    (tmp_path / 'notes').mkdir()
    (tmp_path / '00042-file.txt').write_text('files do not count')
    assert submit.get_next_run_id(str(tmp_path)) == 4
    (tmp_path / '12-short').mkdir()
    assert submit.get_next_run_id(str(tmp_path)) == 13


def test_run_dir_names(tmp_path):
    sc = _config(tmp_path / 'results', 'foo')
    assert os.path.basename(submit._create_run_dir_local(sc)) == '00000-foo'
    assert sc.run_id == 0 and sc.run_name == '00000-foo'
    (tmp_path / 'results' / '00003-foo').mkdir()
    run_dir = submit._create_run_dir_local(_config(tmp_path / 'results', 'bar'))
    assert run_dir == os.path.join(str(tmp_path / 'results'), '00004-bar') and os.path.isdir(run_dir)


def test_run_dir_creation_moves_on_when_the_id_is_taken(tmp_path, monkeypatch):
    # Simulate the race: the listing says 0 is free, but another process has just made it.
    (tmp_path / '00000-foo').mkdir()
    monkeypatch.setattr(submit, 'get_next_run_id', lambda root: 0)
    sc = _config(tmp_path, 'foo')
    assert os.path.basename(submit._create_run_dir_local(sc)) == '00001-foo' and sc.run_id == 1


def test_run_dir_creation_concurrent_threads(tmp_path):
    barrier = threading.Barrier(8)
    ids = []

    def worker():
        sc = _config(tmp_path, 'race')
        barrier.wait()
        submit._create_run_dir_local(sc)
        ids.append(sc.run_id)
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(ids) == list(range(8))
    assert sorted(os.listdir(tmp_path)) == ['%05d-race' % i for i in range(8)]


def test_submit_run_creates_run_dir_files(tmp_path):
    root = tmp_path / 'results'
    sc = _config(root)
    stdout_before = sys.stdout
    run_dir = submit.submit_run(sc, __name__ + '._trivial_run', value=7)

    assert run_dir == os.path.join(str(root), '00000-test-run')
    assert sorted(os.listdir(run_dir)) == ['_finished.txt', 'log.txt', 'out.txt', 'run.txt',
                                           'submit_config.pkl', 'submit_config.txt']
    assert open(os.path.join(run_dir, 'out.txt')).read() == 'value=7 id=0'

    with open(os.path.join(run_dir, 'submit_config.pkl'), 'rb') as f:
        saved = pickle.load(f)
    assert isinstance(saved, submit.SubmitConfig)
    assert saved.run_dir == run_dir and saved.run_id == 0 and saved.run_name == '00000-test-run'
    assert saved.run_func_name == __name__ + '._trivial_run' and saved.run_func_kwargs == {'value': 7}
    assert saved.task_name == 'tester-00000-test-run'
    assert "'run_desc': 'test-run'" in open(os.path.join(run_dir, 'submit_config.txt')).read()

    run_txt = ast.literal_eval(open(os.path.join(run_dir, 'run.txt')).read())
    assert set(run_txt) == {'task_name', 'host_name', 'start_time', 'stop_time'}
    assert run_txt['task_name'] == 'tester-00000-test-run'
    assert run_txt['start_time'] <= run_txt['stop_time']

    log = open(os.path.join(run_dir, 'log.txt')).read()
    assert 'hello from the run' in log and 'warning on stderr' in log
    assert 'dnnlib: Finished %s._trivial_run() in ' % __name__ in log

    # Everything is put back: the caller's config, stdout, dnnlib.submit_config, the run context.
    assert sc.run_dir is None and sc.run_func_name is None
    assert sys.stdout is stdout_before
    assert getattr(dnnlib, 'submit_config', None) is None
    assert run_context._run_context is None
    assert submit.make_run_dir_path('a', 'b.png') == os.path.join(os.getcwd(), 'a', 'b.png')

    # The next run takes the next id.
    run_dir = submit.submit_run(sc, __name__ + '._run_without_config', value='x')
    assert os.path.basename(run_dir) == '00001-test-run'
    assert open(os.path.join(run_dir, 'plain.txt')).read() == 'x'


def test_submit_run_failure_still_finishes_run_dir(tmp_path):
    stdout_before = sys.stdout
    with pytest.raises(RuntimeError, match='boom in run'):
        submit.submit_run(_config(tmp_path), __name__ + '._failing_run')
    run_dir = os.path.join(str(tmp_path), '00000-test-run')
    assert os.path.exists(os.path.join(run_dir, '_finished.txt'))
    log = open(os.path.join(run_dir, 'log.txt')).read()
    assert 'about to fail' in log and 'RuntimeError: boom in run' in log
    assert 'stop_time' in ast.literal_eval(open(os.path.join(run_dir, 'run.txt')).read())
    assert sys.stdout is stdout_before
    assert getattr(dnnlib, 'submit_config', None) is None
    assert run_context._run_context is None


def test_submit_run_rejects_bad_config(tmp_path):
    sc = _config(tmp_path, 'bad desc/with slash')
    with pytest.raises(ValueError, match='Invalid task name'):
        submit.submit_run(sc, __name__ + '._trivial_run', value=1)
    sc = _config(tmp_path)
    sc.num_gpus = 0
    with pytest.raises(RuntimeError, match='num_gpus'):
        submit.submit_run(sc, __name__ + '._trivial_run', value=1)
    assert os.listdir(tmp_path) == []  # nothing was created


def test_run_context_abort_file(tmp_path):
    sc = _config(tmp_path)
    sc.run_dir = str(tmp_path)
    sc.task_name = 'task'
    with run_context.RunContext(sc) as ctx:
        assert run_context.RunContext.get() is ctx
        ctx.update()
        assert not ctx.should_stop()
        (tmp_path / 'abort.txt').write_text('')
        ctx.update('', cur_epoch=1, max_epoch=2)
        assert ctx.should_stop()
        assert ctx.get_last_update_interval() >= 0.0 and ctx.get_time_since_start() >= 0.0
    assert run_context._run_context is None
    assert ast.literal_eval((tmp_path / 'run.txt').read_text())['task_name'] == 'task'


def test_path_templates(monkeypatch):
    monkeypatch.setattr(submit.getpass, 'getuser', lambda: 'alice')
    assert submit.get_path_from_template('/r/<USERNAME>/x', submit.PathType.LINUX) == '/r/alice/x'
    assert submit.get_path_from_template('C:/r/<USERNAME>', submit.PathType.WINDOWS) == 'C:\\r\\alice'
    assert submit.convert_path('a\\b', submit.PathType.LINUX) == 'a/b'


def test_command_line_values():
    assert dnnlib.util.parse_num_range('1,5-7, 9') == [1, 5, 6, 7, 9]
    assert [dnnlib.util.parse_bool(v) for v in ('yes', 'True', '1', 'n', 'F', '0', False)] == [True] * 3 + [False] * 4
    for bad, parse in (('5-', dnnlib.util.parse_num_range), ('a', dnnlib.util.parse_num_range), ('maybe', dnnlib.util.parse_bool)):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(bad)
