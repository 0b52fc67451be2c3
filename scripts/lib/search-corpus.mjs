/**
 * The vocabulary the search benchmark writes its messages from: word lists per language,
 * most frequent first (the seed draws from them with a Zipf-like, log-uniform rank, so the
 * first words are common and the last ones rare), whole chat phrases (so that "exact
 * phrases" occur), code identifiers, URLs and a long tail of rare made-up words. Everything
 * here is deterministic: the same lists on every run.
 */

/** A small seeded PRNG (mulberry32), so generated lists are the same on every run. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const words = (s) => s.trim().split(/\s+/);

/** English, roughly by frequency in chat (function words first, then chat and work words). */
const EN = words(`
the to i and a you it is that for of in we on this be can have it's just will so do with
not but at are if i'm was what my me no yes ok thanks all get there up out about it’s like
now one time know think good need see should would could today here from your let's going
how please when they them been sure also did make still back new more some go want any then
well work take look right got because by an as or our us go done check team meeting call
tomorrow deploy build review test fix issue update release server thanks! great nice cool
yeah yep sorry hey hi hello morning afternoon lunch week weekend monday tuesday wednesday
thursday friday next last before after already again soon later maybe probably actually
really thing things something anything everyone someone people customer customers user
users account data database query queries file files folder link page docs document doc
notes slides demo design feedback plan sprint ticket tickets bug bugs error errors crash
logs log alert alerts incident outage latency timeout memory cpu disk network traffic
production prod staging dev local branch merge commit push pull request pr main master
rebase conflict pipeline ci job jobs runner cache config settings feature flag flags
version api endpoint service services client backend frontend mobile web app android ios
browser chrome firefox safari login password token session email message messages chat
channel thread reply replies reaction notification notifications search results report
reports dashboard metrics graph chart number numbers price budget invoice contract legal
sales marketing support office remote home travel flight hotel train airport coffee tea
pizza dinner breakfast birthday holiday vacation party team's manager boss hiring
interview candidate offer onboarding training workshop conference talk video recording
screen share zoom slack calendar invite schedule reschedule cancel confirm approved
approve blocked blocker waiting pending ready started finished complete progress status
priority urgent important quick small big huge tiny easy hard simple complex better worse
best worst first second third few many much less least most every each other another
same different able unable why where which who whose while until since though although
yet either neither both whether into onto over under above below between through during
without within along across behind beyond around near far inside outside up-to-date
migration migrations schema index indexes table tables column columns row rows backup
restore cluster node nodes pod pods container containers image images docker kubernetes
helm terraform aws gcp azure bucket storage upload download sync async retry retries
queue worker workers cron scheduler webhook webhooks payload json yaml csv pdf png
screenshot typo rename refactor cleanup lint format typecheck compile compiler runtime
dependency dependencies package packages upgrade downgrade patch hotfix rollback revert
`);

/** Rarer English words, placed in the rare tail (see `tailWords`) at fixed ranks. */
const EN_RARE = words(`
quokka zeppelin marzipan kaleidoscope xylophone serendipity labyrinth origami porcupine
saxophone tambourine chameleon dromedary gargoyle hieroglyph juggernaut kumquat lollipop
mongoose narwhal obelisk platypus quasar rhubarb sarcophagus trombone ukulele vermilion
walrus yodel zucchini albatross bazooka candelabra dirigible escarpment flamingo gazebo
`);

const DE = words(`
der die das und ist nicht ich wir sie es ein eine zu mit auf für von den dem im heute
morgen gestern bitte danke ja nein gut schon noch auch aber oder wenn dann jetzt hier
Besprechung Termin Fehler Änderung Übersicht Straße über schön Grüße Größe Tschüss können
müssen möchten würde hätte später früh Mittagessen Kaffee Bestätigung Prüfung Lösung
Anfrage Kunde Kunden Rechnung Bericht Überprüfung Veröffentlichung Zugriff Datenbank
Server Bereitstellung Aktualisierung Wochenende Urlaub Büro Zuhause natürlich genau
vielleicht wahrscheinlich eigentlich wirklich fertig erledigt dringend wichtig Frühstück
Mädchen Tür Bücher Äpfel Öffnungszeiten Schlüssel Gebäude Besucher Grüßen Fußball
`);

const FR = words(`
le la les et est pas je nous vous il elle un une de du des en à au aux pour avec sur dans
aujourd'hui demain hier merci oui non bien déjà très été où ça c'est réunion café problème
équipe réseau déploiement mise jour serveur base données client clients facture rapport
être avoir faire voir après avant peut-être vraiment fini urgent important pause déjeuner
vacances bureau maison télétravail rendez-vous numéro première dernière semaine prochaine
résumé présentation réglage paramètres sécurité accès compte mot passe erreur échec
réussi validé envoyé reçu français élève hôpital forêt fenêtre garçon noël crème brûlée
`);

const ES = words(`
el la los las y es no que de en un una por para con sin sobre hoy mañana ayer gracias sí
bien ya muy también está están más menos qué cómo dónde cuándo reunión equipo problema
servidor despliegue base datos cliente factura informe año niño señor canción corazón
información acción día días semana próxima última después antes quizás realmente listo
urgente importante almuerzo café vacaciones oficina casa teletrabajo número contraseña
error fallo éxito enviado recibido revisión versión actualización configuración cámara
`);

const PT = words(`
o a os as e é não que de em um uma por para com sem hoje amanhã ontem obrigado obrigada sim
bem já muito também está estão mais menos você reunião equipe problema servidor implantação
banco dados cliente fatura relatório ação informação coração atenção função configuração
versão atualização senha erro falha sucesso enviado recebido próxima última depois antes
`);

/** Chinese words (mostly two characters: the case bigrams exist for), written without spaces. */
const ZH = words(`
的 了 是 我 你 他 我们 今天 明天 昨天 会议 上海 北京 问题 没有 可以 需要 已经 因为 所以 但是 如果
现在 然后 这个 那个 一下 看看 好的 谢谢 部署 服务器 测试 数据库 客户 项目 发布 版本 时间 下午 上午
公司 团队 代码 修复 错误 日志 用户 文档 设计 产品 经理 同事 周末 东边 西边 地铁 天气 下雨 吃饭 午饭
咖啡 深圳 广州 杭州 成都 我家在 在 和 不 有 也 都 还 就 要 会 能 说 做 去 来 到 给 让 把 被 从 对 跟
上线 回滚 告警 故障 延迟 内存 网络 流量 接口 前端 后端 手机 浏览器 登录 密码 消息 通知 搜索 结果 报告
预算 合同 销售 市场 支持 办公室 出差 航班 酒店 火车 机场 生日 假期 面试 候选人 培训 会议室 视频 录音
屏幕 共享 日历 邀请 安排 取消 确认 批准 等待 进行中 完成 进度 状态 优先级 紧急 重要 简单 复杂 更好
迁移 索引 备份 恢复 集群 节点 容器 镜像 上传 下载 同步 重试 队列 脚本 配置 依赖 升级 补丁 东京 香港
`);

/** Japanese: kanji, hiragana and katakana words, written without spaces. */
const JA = words(`
です ます の は が を に で と も した します しました ありがとうございます よろしくお願いします
お疲れ様です 東京 大阪 タワー 東京タワー 会議 会議室 明日 今日 昨日 資料 共有 予定 時間 問題
対応 修正 確認 リリース デプロイ サーバー テスト バグ ログ エラー データベース ユーザー 画面 設定
本番 環境 検証 レビュー 承認 お願い 大丈夫 了解 少々 お待ち ください 午後 午前 来週 今週 先週
ランチ コーヒー 出張 新幹線 京都 横浜 名古屋 福岡 札幌 ミーティング スケジュール プロジェクト
`);

/** Korean (Hangul, with spaces between words). */
const KO = words(`
네 아니요 감사합니다 안녕하세요 오늘 내일 어제 회의 서울 부산 배포 서버 확인 문제 테스트 점심
커피 좋아요 알겠습니다 수정 완료 진행 일정 자료 공유 데이터베이스 사용자 오류 로그 릴리스
`);

/** Whole phrases people write, per language, so that "exact phrases" occur. */
export const PHRASES = {
  en: [
    'deploy to production',
    'the build is broken',
    'can you review my pr',
    'code review',
    'out of office',
    'lunch at noon?',
    "let's sync tomorrow",
    'the tests are green again',
    'rollback the last release',
    'who is on call this week',
    'please update the docs',
    'the database migration failed',
    'works on my machine',
    'merge conflict in main',
    'happy birthday!',
    'stand-up in five minutes',
    'the customer reported a bug',
    'restart the server',
    'clear the cache',
    'the pipeline is stuck',
    'send me the invoice',
    'flaky test again',
    'memory leak in the worker',
    'feature flag is on',
    'ship it',
  ],
  de: ['der Build ist kaputt', 'wir sehen uns morgen', 'schönes Wochenende', 'Grüße aus dem Büro'],
  fr: ['on se voit demain', 'la mise à jour est déployée', 'bonne journée', "c'est déjà réglé"],
  es: ['nos vemos mañana', 'el servidor está caído', 'buen fin de semana', 'ya está listo'],
  pt: ['até amanhã', 'o servidor caiu', 'bom fim de semana'],
  zh: ['我家在上海东边', '明天上午开会', '服务器又挂了', '周末愉快'],
  ja: ['東京タワーの近くです', '明日の会議は午後からです', 'よろしくお願いします'],
  ko: ['내일 회의 있어요', '서버가 다운됐어요', '좋은 하루 되세요'],
};

const CAMEL_PARTS = words(`
get set user config message chat search query index token session cache retry handler
service client server request response event payload parse build render fetch update
delete create list find load save send receive queue worker stream buffer socket
`);

/** Code identifiers in the usual cases: camelCase, PascalCase, snake_case, kebab-case, CONSTANT_CASE. */
function identifiers(rand) {
  const pick = () => CAMEL_PARTS[Math.floor(rand() * CAMEL_PARTS.length)];
  const cap = (w) => w[0].toUpperCase() + w.slice(1);
  const out = new Set([
    'getUserConfig',
    'parse_query_string',
    'kubernetes-operator',
    'useEffect',
    'HTTP_PROXY',
    'node_modules',
    'package.json',
    'docker-compose.yml',
    'README.md',
    'tsconfig.json',
    'NullPointerException',
    'ECONNREFUSED',
    'ERR_MODULE_NOT_FOUND',
    'SIGTERM',
    'OOMKilled',
    'CrashLoopBackOff',
    'git rebase -i',
    'SELECT * FROM users',
    'npm run build',
    'kubectl get pods',
  ]);
  for (let i = 0; out.size < 3000 && i < 100_000; i++) {
    const parts = [pick(), pick(), ...(rand() < 0.4 ? [pick()] : [])];
    const style = rand();
    if (style < 0.35) out.add(parts[0] + parts.slice(1).map(cap).join(''));
    else if (style < 0.5) out.add(parts.map(cap).join(''));
    else if (style < 0.75) out.add(parts.join('_'));
    else if (style < 0.92) out.add(parts.join('-'));
    else out.add(parts.join('_').toUpperCase());
  }
  return [...out];
}

/** URLs of the kinds teams paste. */
function urls(rand) {
  const n = (max) => 1 + Math.floor(rand() * max);
  const hex = (len) => Array.from({ length: len }, () => Math.floor(rand() * 16).toString(16)).join('');
  const w = () => EN[40 + Math.floor(rand() * 300)].replace(/[^a-z0-9-]/g, '') || 'page';
  const make = [
    () => `https://github.com/parley-chat/parley/pull/${n(5000)}`,
    () => `https://github.com/parley-chat/parley/issues/${n(3000)}`,
    () => `https://docs.example.com/guide/${w()}-${w()}`,
    () => `https://grafana.internal.example/d/${hex(8)}/${w()}?orgId=1`,
    () => `http://localhost:${3000 + n(6000)}/api/${w()}`,
    () => `https://www.youtube.com/watch?v=${hex(11)}`,
    () => `https://jira.example.org/browse/OPS-${n(9000)}`,
    () => `https://stackoverflow.com/questions/${10_000_000 + n(60_000_000)}`,
    () => `https://en.wikipedia.org/wiki/${w()}`,
    () => `https://meet.example.com/${hex(3)}-${hex(4)}-${hex(3)}`,
  ];
  const out = new Set();
  for (let i = 0; out.size < 2000 && i < 100_000; i++) out.add(make[Math.floor(rand() * make.length)]());
  return [...out];
}

/**
 * The rare tail: 6,000 made-up words from common syllables (trigrams like real text), with
 * real rare words at fixed ranks. Drawn from log-uniformly, rank 300 occurs in a few hundred
 * messages of a million and rank 5,000 in a handful.
 */
function tailWords(rand) {
  const onset = words('b br c ch cl d dr f fl g gr h j k kl l m n p pl pr qu r s sh sk st t th tr v w z');
  const vowel = words('a e i o u ai ea ee io ou oa');
  const coda = words('n r l s t m nd rt st x ck ng sh');
  const out = new Set();
  const taken = new Set(EN.concat(EN_RARE));
  for (let i = 0; out.size < 6000 && i < 200_000; i++) {
    const syllables = 2 + Math.floor(rand() * 2);
    let word = '';
    for (let s = 0; s < syllables; s++)
      word +=
        onset[Math.floor(rand() * onset.length)] +
        vowel[Math.floor(rand() * vowel.length)] +
        (rand() < 0.4 ? coda[Math.floor(rand() * coda.length)] : '');
    if (!taken.has(word)) out.add(word);
  }
  const list = [...out];
  // Real rare words at ranks 300, 400, … (so they occur tens to hundreds of times).
  EN_RARE.forEach((word, i) => list.splice(300 + i * 100, 0, word));
  return list;
}

/** Everything the seed needs, as arrays (most frequent first). */
export function corpus() {
  const rand = prng(14);
  return {
    en: EN,
    de: DE,
    fr: FR,
    es: ES,
    pt: PT,
    zh: ZH,
    ja: JA,
    ko: KO,
    tail: tailWords(rand),
    ident: identifiers(rand),
    url: urls(rand),
    ...Object.fromEntries(Object.entries(PHRASES).map(([lang, list]) => [`phrase_${lang}`, list])),
  };
}

/** The rare real words, for the rare-word query class. */
export const RARE_WORDS = EN_RARE;
