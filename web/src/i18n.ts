// Korean first, English beside: every label a person reads has both. The
// table is the one place the console's words live.
export const labels = {
  title: ["관제 콘솔", "Control console"],
  username: ["아이디", "Username"],
  password: ["비밀번호", "Password"],
  totp: ["OTP 코드", "One-time code"],
  totpHint: ["OTP를 설정한 계정만 입력", "Only for accounts with a second factor"],
  login: ["로그인", "Log in"],
  loggingIn: ["로그인 중…", "Logging in…"],
  loginFailed: ["아이디, 비밀번호 또는 OTP 코드가 올바르지 않습니다", "Wrong username, password or code"],
  logout: ["로그아웃", "Log out"],
  locked: ["화면 잠김", "Locked"],
  lockedHint: ["입력이 없어 잠겼습니다. 영상 세션은 종료되었습니다. 다시 로그인하면 화면이 복원됩니다.", "Locked after inactivity. Live views were ended; log in again to restore the wall."],
  unlock: ["잠금 해제", "Unlock"],
  cameras: ["카메라", "Cameras"],
  search: ["검색", "Search"],
  searchPlaceholder: ["이름·관리번호·주소", "name, number, address"],
  bySite: ["장소별", "By site"],
  byPurpose: ["목적별", "By purpose"],
  byDepartment: ["부서별", "By department"],
  wall: ["영상 벽", "Video wall"],
  layout: ["화면 분할", "Layout"],
  alarms: ["알람", "Alarms"],
  noAlarms: ["미처리 알람 없음", "No open alarms"],
  acknowledge: ["확인", "Acknowledge"],
  ackNote: ["처리 메모", "Note"],
  ackNotePlaceholder: ["조치 내용 (예: 현장 확인 요청)", "what was done"],
  cancel: ["취소", "Cancel"],
  purpose: ["열람목적", "Purpose of viewing"],
  purposePrompt: ["영상을 보기 전에 열람목적을 선택하세요. 바꿀 때까지 이후 열람에 적용됩니다.", "State the purpose before viewing; it applies to the views you open until you change it."],
  purposeText: ["목적 설명 (기타)", "Describe (other)"],
  confirm: ["확인", "Confirm"],
  change: ["변경", "Change"],
  emptyTile: ["카메라를 끌어 놓거나 선택 후 Enter", "Drop a camera here, or select one and press Enter"],
  starting: ["연결 중…", "Connecting…"],
  playing: ["재생 중", "Live"],
  failed: ["재생 실패", "Failed"],
  close: ["닫기", "Close"],
  enlarge: ["확대", "Enlarge"],
  keys: ["단축키", "Keys"],
  keyHelp: ["1–9 타일 선택 · Alt+1/4/9/6 분할 · Enter 선택 카메라 열기 · Del 타일 닫기 · F 확대 · A 첫 알람 확인 · / 검색", "1–9 select tile · Alt+1/4/9/6 layout · Enter open selected camera · Del close tile · F enlarge · A acknowledge first alarm · / search"],
  noCameras: ["카메라 없음", "No cameras"],
  sessionEnded: ["세션이 종료되었습니다. 다시 로그인하세요.", "Your session ended; log in again."],
  user: ["사용자", "User"],
} as const satisfies Record<string, readonly [string, string]>;

export type LabelKey = keyof typeof labels;

/** text: "한국어 (English)" for attributes (aria-label, title, placeholder). */
export function text(k: LabelKey): string {
  const [ko, en] = labels[k];
  return `${ko} (${en})`;
}

export const stateLabels: Record<string, readonly [string, string]> = {
  online: ["정상", "online"],
  degraded: ["저하", "degraded"],
  offline: ["오프라인", "offline"],
  unauthorized: ["인증 실패", "unauthorized"],
  stream_failed: ["스트림 실패", "stream failed"],
  stalled: ["정지", "stalled"],
  maintenance: ["점검 중", "maintenance"],
  unknown: ["확인 중", "unknown"],
  recording: ["녹화", "recording"],
};

export const alarmLabels: Record<number, readonly [string, string]> = {
  1: ["카메라 오프라인", "camera offline"],
  2: ["시각 오차", "clock drift"],
  3: ["녹화 격리", "recording quarantined"],
  4: ["녹화 누락", "recording missing"],
  5: ["녹화 쓰기 실패", "recording write failed"],
  6: ["녹화 변조", "recording tampered"],
  7: ["저장공간 부족", "disk full"],
  8: ["보존기간 초과", "kept too long"],
  9: ["감사 기록 무결성", "audit integrity"],
  10: ["감사 기록 초과", "audit oversize"],
};

/** The purposes of viewing (열람목적), in the order people pick them. */
export const purposeLabels: ReadonlyArray<readonly [number, string, string]> = [
  [1, "범죄 예방·수사", "crime prevention"],
  [2, "시설안전·화재예방", "facility safety"],
  [3, "교통단속", "traffic enforcement"],
  [4, "교통정보 수집·분석", "traffic information"],
  [5, "재난·재해 대응", "disaster response"],
  [6, "정보주체 열람 청구 처리", "data subject request"],
  [7, "유지보수·점검", "maintenance"],
  [8, "기타", "other"],
];

/** seoul formats a time in the institution's zone. */
export function seoul(d: Date | undefined): string {
  if (!d) return "";
  return new Intl.DateTimeFormat("ko-KR", {
    timeZone: "Asia/Seoul", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  }).format(d);
}
