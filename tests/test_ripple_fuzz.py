"""Property test: `parse_rpl` on any text or bytes returns a RippleHeader or raises RippleError, nothing else."""
import tempfile
from pathlib import Path
from hypothesis import given, settings, strategies as st, HealthCheck
from maxrf4u.errors import RippleError
from maxrf4u.ripple import parse_rpl, RippleHeader

TMP = Path(tempfile.mkdtemp())
KEYS = ['width', 'height', 'depth', 'offset', 'data-length', 'data-Length', 'data-type', 'byte-order',
        'record-by', 'ev-per-chan', 'depth-origin', 'key', 'WIDTH', '']
VALUES = ['1', '2', '4', '8', '0', '-1', '3.5', 'value', 'unsigned', 'signed', 'float', 'little-endian',
          'big-endian', 'dont-care', 'vector', 'image', 'nan', '1e999', '', '\x00', '½', '١٢']
SEPS = ['\t', ' \t ', ' ', '\t\t', '']
ENDS = ['\n', '\r\n', '\r', '']
COUNT = {'n': 0, 'ok': 0}

line = st.tuples(st.sampled_from(KEYS) | st.text(max_size=8), st.sampled_from(SEPS),
                 st.sampled_from(VALUES) | st.text(max_size=8), st.sampled_from(['', ' ; c', ';']),
                 st.sampled_from(ENDS)).map(''.join)
header_like = st.lists(line, max_size=14).map(''.join)
payload = (header_like.map(lambda s: s.encode('utf-8')) | header_like.map(lambda s: s.encode('utf-8', 'replace'))
           | st.binary(max_size=300) | st.text(max_size=200).map(lambda s: s.encode('utf-8', 'surrogatepass'))
           | st.tuples(st.binary(max_size=4), header_like).map(lambda t: t[0] + t[1].encode('latin-1', 'replace')))

@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload)
def _parse_any_text(data):
    p = TMP / 'fuzz.rpl'
    p.write_bytes(data)
    COUNT['n'] += 1
    try: h = parse_rpl(p)
    except RippleError as e: assert 'fuzz.rpl' in str(e)  # every message names the file
    else:
        assert isinstance(h, RippleHeader) and h.nbytes >= 0 and h.dtype.itemsize == h.data_length
        h.to_dict(); COUNT['ok'] += 1

@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({'width': st.integers(1, 10**6), 'height': st.integers(1, 10**6),
                              'depth': st.integers(1, 10**5), 'offset': st.integers(0, 10**9),
                              'data-length': st.sampled_from(['1', '2', '4', '8']),
                              'data-type': st.sampled_from(['signed', 'unsigned', 'float', 'Float', 'UNSIGNED']),
                              'byte-order': st.sampled_from(['little-endian', 'big-endian', 'dont-care']),
                              'record-by': st.sampled_from(['vector', 'image', 'dont-care'])}),
       st.sampled_from(['\n', '\r\n']), st.booleans())
def test_valid_headers_parse(fields, end, bom):
    "Headers built from valid values parse, unless the combination is one the reader must refuse."
    text = ('\ufeff' if bom else '') + end.join(f'{k}\t{v}' for k, v in fields.items()) + end
    p = TMP / 'valid.rpl'; p.write_text(text, encoding='utf-8')
    refuse = (fields['data-type'].lower() == 'float' and fields['data-length'] in ('1', '2')) or \
             (fields['record-by'] == 'dont-care' and fields['depth'] != 1)
    try: h = parse_rpl(p)
    except RippleError: assert refuse
    else:
        assert not refuse and h.shape == (fields['height'], fields['width'], fields['depth'])

def test_parse_rpl_never_crashes():
    "Any bytes as a .rpl: a header or RippleError naming the file, never another exception."
    COUNT.update(n=0, ok=0)
    _parse_any_text()
    print(f"\nfuzz: {COUNT['n']} inputs parsed, {COUNT['ok']} valid headers, all others RippleError")
    assert COUNT['n'] >= 500
