"""Property tests: `parse_rpl` on any text or bytes returns a RippleHeader or raises RippleError, nothing
else, and a RippleError quotes only a short, escaped excerpt of what it found in the file."""
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from maxrf4u.errors import RippleError
from maxrf4u.ripple import parse_rpl, RippleHeader

KEYS = ['width', 'height', 'depth', 'offset', 'data-length', 'data-Length', 'data-type', 'byte-order',
        'record-by', 'ev-per-chan', 'depth-origin', 'key', 'WIDTH', '']
VALUES = ['1', '2', '4', '8', '0', '-1', '3.5', 'value', 'unsigned', 'signed', 'float', 'little-endian',
          'big-endian', 'dont-care', 'vector', 'image', 'nan', '1e999', '', '\x00', '½', '١٢']
SEPS = ['\t', ' \t ', ' ', '\t\t', '']
ENDS = ['\n', '\r\n', '\r', '']
GOOD = ('width\t5\nheight\t4\ndepth\t3\noffset\t0\ndata-length\t2\ndata-type\tunsigned\n'
        'byte-order\tlittle-endian\nrecord-by\tvector\n')
MESSAGE_MAX = 500   # characters of a message besides the file's path

line = st.tuples(st.sampled_from(KEYS) | st.text(max_size=8), st.sampled_from(SEPS),
                 st.sampled_from(VALUES) | st.text(max_size=8), st.sampled_from(['', ' ; c', ';']),
                 st.sampled_from(ENDS)).map(''.join)
header_like = st.lists(line, max_size=14).map(''.join)
payload = (header_like.map(lambda s: s.encode('utf-8')) | header_like.map(lambda s: s.encode('utf-8', 'replace'))
           | st.binary(max_size=300) | st.text(max_size=200).map(lambda s: s.encode('utf-8', 'surrogatepass'))
           | st.tuples(st.binary(max_size=4), header_like).map(lambda t: t[0] + t[1].encode('latin-1', 'replace')))


def check_message(e, path):
    "A RippleError names the file, is printable (no control bytes reach a terminal) and is short."
    msg = str(e)
    assert path.name in msg, msg
    assert msg.isprintable(), f'message echoes non-printable characters: {msg[:300]!r}'
    assert len(msg.replace(str(path), '')) < MESSAGE_MAX, f'message of {len(msg):,} characters: {msg[:300]!r}...'


def test_parse_rpl_never_crashes(tmp_path):
    "Any bytes as a .rpl: a header or a short, printable RippleError naming the file, never another exception."
    count = {'n': 0, 'ok': 0}
    p = tmp_path / 'fuzz.rpl'

    @settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(payload)
    def parse_any(data):
        p.write_bytes(data)
        count['n'] += 1
        try: h = parse_rpl(p)
        except RippleError as e: check_message(e, p)
        else:
            assert isinstance(h, RippleHeader) and h.nbytes >= 0 and h.dtype.itemsize == h.data_length
            h.to_dict(); count['ok'] += 1

    parse_any()
    print(f"\nfuzz: {count['n']} inputs parsed, {count['ok']} valid headers, all others RippleError")
    assert count['n'] >= 500


@pytest.fixture(scope='module')
def folder(tmp_path_factory): return tmp_path_factory.mktemp('rpl')


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({'width': st.integers(1, 10**6), 'height': st.integers(1, 10**6),
                              'depth': st.integers(1, 10**5), 'offset': st.integers(0, 10**9),
                              'data-length': st.sampled_from(['1', '2', '4', '8']),
                              'data-type': st.sampled_from(['signed', 'unsigned', 'float', 'Float', 'UNSIGNED']),
                              'byte-order': st.sampled_from(['little-endian', 'big-endian', 'dont-care']),
                              'record-by': st.sampled_from(['vector', 'image', 'dont-care'])}),
       st.sampled_from(['\n', '\r\n']), st.booleans())
def test_valid_headers_parse(folder, fields, end, bom):
    "Headers built from valid values parse, unless the combination is one the reader must refuse."
    text = ('\ufeff' if bom else '') + end.join(f'{k}\t{v}' for k, v in fields.items()) + end
    p = folder / 'valid.rpl'; p.write_text(text, encoding='utf-8')
    refuse = (fields['data-type'].lower() == 'float' and fields['data-length'] in ('1', '2')) or \
             (fields['record-by'] == 'dont-care' and fields['depth'] != 1)
    try: h = parse_rpl(p)
    except RippleError: assert refuse
    else:
        assert not refuse and h.shape == (fields['height'], fields['width'], fields['depth'])


LONG, ESC = 'k' * 10_000, '\x1b[31m'
BAD_HEADERS = {   # what a file may hold: control bytes, invalid UTF-8, a 10,000-character key or value
    'key with escape codes, twice': (GOOD + f'a{ESC}b\t1\na{ESC}b\t2\n').encode(),
    '10,000-character key, twice': (GOOD + f'{LONG}\t1\n{LONG}\t2\n').encode(),
    'key with control bytes and invalid UTF-8, twice': GOOD.encode() + b'\x00\x07\xff\xfe\t1\n\x00\x07\xff\xfe\t2\n',
    'value with escape codes, twice': (GOOD + f'note\t{ESC}x\nnote\t{ESC}y\n').encode(),
    '10,000-character value, twice': (GOOD + f'note\t{LONG}\nnote\tshort\n').encode(),
    '10,000-character width': GOOD.replace('width\t5', f'width\t{LONG}').encode(),
    '10,000-character data-type': GOOD.replace('unsigned', 'u' + LONG).encode(),
    'invalid UTF-8 byte order': GOOD.encode().replace(b'little-endian', b'little\x9b\x00endian'),
    'line without a tab, 10,000 characters': (GOOD + LONG + ' x\n').encode(),
    'tab without a key, long value': (GOOD + '\t' + ESC + LONG + '\n').encode(),
}


@pytest.mark.parametrize('case', list(BAD_HEADERS))
def test_messages_quote_short_escaped_excerpts(tmp_path, case):
    "Every message quotes a short excerpt of the offending key or value, with control bytes escaped."
    p = tmp_path / 'bad.rpl'
    p.write_bytes(BAD_HEADERS[case])
    with pytest.raises(RippleError) as e: parse_rpl(p)
    check_message(e.value, p)
