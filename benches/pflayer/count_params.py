# Exact parameter counts of the official naver-ai/PfLayer resnet_pf.py ResNets (R50, R50-max,
# R50-hybrid) by arithmetic: conv k x k without bias in*out*k^2, BatchNorm 2*out (gamma, beta),
# FC in*classes + classes. Run: python3 benches/pflayer/count_params.py
# (expected: conv 25557032, max 14232232, hybrid 17330600; tested in model/pf_resnet.rs).
def convbn(i,o,k): return i*o*k*k + 2*o
def count(kind, layers=(3,4,6,3), classes=1000, inp=3, stem=64, planes=(64,128,256,512), exp=4):
    n = convbn(inp, stem, 7); inplanes = stem
    for s,(p,b) in enumerate(zip(planes, layers)):
        stride = 1 if s == 0 else 2
        for j in range(b):
            st = stride if j == 0 else 1
            n += convbn(inplanes, p, 1)
            if kind == 'conv' or (kind == 'hybrid' and st == 2): n += convbn(p, p, 3)
            n += convbn(p, p*exp, 1)
            if j == 0 and (st != 1 or inplanes != p*exp): n += convbn(inplanes, p*exp, 1)
            inplanes = p*exp
    return n + inplanes*classes + classes
for k in ['conv','max','hybrid']: print(k, count(k))
